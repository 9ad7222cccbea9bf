from uuid import uuid4

import pytest

from accounts.tests.factories import UserFactory
from common.errors import Invalid, InvalidState, NotFound
from common.tests.helpers import database_state
from tokens import selectors, services
from tokens.ledger import Entry, LotChange, LotSpec, Posting, ledger_credit
from tokens.models import TokenAccount, TokenTransaction
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]
Type = TokenTransaction.Type


@pytest.fixture
def user():
    return UserFactory()


def account_of(user) -> TokenAccount:
    return TokenAccount.objects.get(user=user)


def test_a_first_credit_creates_the_account(user):
    entry = services.tokens_credit(
        user_id=user.pk,
        amount=1000,
        transaction_type=Type.PURCHASE,
        reference_type="token_bundle_purchase",
        reference_id="p-1",
    )

    account = account_of(user)
    assert (account.balance, account.total_purchased, account.total_spent) == (1000, 1000, 0)
    assert (entry.number, entry.balance_after, entry.amount) == (1, 1000, 1000)
    assert account.entry_count == 1


def test_debits_and_credits_number_entries_and_keep_totals(user):
    fund(user, 100)

    services.tokens_debit(user_id=user.pk, amount=30)
    services.tokens_debit(user_id=user.pk, amount=20)
    last = services.tokens_credit(user_id=user.pk, amount=5, transaction_type=Type.ADJUSTMENT)

    account = account_of(user)
    assert (account.balance, account.total_spent, account.entry_count) == (55, 50, 4)
    entries = list(TokenTransaction.objects.filter(account=account).order_by("number"))
    assert [(e.number, e.amount, e.balance_after) for e in entries] == [
        (1, 100, 100),
        (2, -30, 70),
        (3, -20, 50),
        (4, 5, 55),
    ]
    assert last.balance_after == account.balance


def test_a_debit_larger_than_the_balance_is_refused_and_changes_nothing(user):
    fund(user, 10)
    before = database_state()

    with pytest.raises(services.InsufficientTokens) as refused:
        services.tokens_debit(user_id=user.pk, amount=11)

    assert (refused.value.balance, refused.value.needed) == (10, 11)
    assert database_state() == before


def test_a_debit_without_an_account_is_refused_without_creating_one(user):
    with pytest.raises(services.InsufficientTokens):
        services.tokens_debit(user_id=user.pk, amount=1)

    assert not TokenAccount.objects.filter(user=user).exists()


def test_the_same_key_returns_the_first_entry_and_changes_nothing(user):
    fund(user, 10)
    first = services.tokens_debit(user_id=user.pk, amount=4, idempotency_key="job-1")
    state = database_state()

    again = services.tokens_debit(user_id=user.pk, amount=4, idempotency_key="job-1")

    assert again.pk == first.pk
    assert database_state() == state


def test_the_same_key_returns_the_first_entry_even_when_the_balance_is_now_short(user):
    fund(user, 4)
    first = services.tokens_debit(user_id=user.pk, amount=4, idempotency_key="job-1")

    again = services.tokens_debit(user_id=user.pk, amount=4, idempotency_key="job-1")

    assert again.pk == first.pk
    assert account_of(user).balance == 0


def test_the_same_key_for_another_amount_is_refused(user):
    fund(user, 10)
    services.tokens_debit(user_id=user.pk, amount=4, idempotency_key="job-1")
    before = database_state()

    with pytest.raises(services.LedgerKeyReused):
        services.tokens_debit(user_id=user.pk, amount=5, idempotency_key="job-1")

    assert database_state() == before


def test_keys_belong_to_one_account(user):
    other = UserFactory()
    fund(user, 10)
    fund(other, 10)

    mine = services.tokens_debit(user_id=user.pk, amount=1, idempotency_key="same")
    theirs = services.tokens_debit(user_id=other.pk, amount=1, idempotency_key="same")

    assert mine.pk != theirs.pk


@pytest.mark.parametrize("amount", [0, -5])
def test_credit_and_debit_take_positive_amounts(user, amount):
    with pytest.raises(ValueError, match="positive"):
        services.tokens_debit(user_id=user.pk, amount=amount)
    with pytest.raises(ValueError, match="positive"):
        services.tokens_credit(user_id=user.pk, amount=amount, transaction_type=Type.ADJUSTMENT)


def test_usage_refund_gives_the_tokens_back_once(user, staff_user):
    fund(user, 10)
    usage = services.tokens_debit(user_id=user.pk, amount=7)

    refund = services.usage_refund(transaction_id=usage.pk, actor_id=staff_user.pk)

    assert (refund.amount, refund.transaction_type, refund.balance_after) == (7, "refund", 10)
    assert (refund.reference_type, refund.reference_id) == ("token_transaction", str(usage.pk))
    assert refund.created_by_id == staff_user.pk
    assert account_of(user).total_spent == 0
    before = database_state()
    with pytest.raises(services.UsageAlreadyRefunded):
        services.usage_refund(transaction_id=usage.pk, actor_id=staff_user.pk)
    assert database_state() == before


def test_only_usage_can_be_refunded(user):
    credit = fund(user, 10)

    with pytest.raises(InvalidState):
        services.usage_refund(transaction_id=credit.pk, actor_id=None)


def test_refund_of_an_unknown_entry_is_not_found(user):
    with pytest.raises(NotFound):
        services.usage_refund(transaction_id=user.pk, actor_id=None)


def test_adjust_records_who_and_why(user, staff_user):
    entry = services.tokens_adjust(
        user_id=user.pk, amount=50, reason="  goodwill  ", actor_id=staff_user.pk
    )

    assert (entry.transaction_type, entry.amount, entry.description) == (
        "adjustment",
        50,
        "goodwill",
    )
    assert entry.created_by_id == staff_user.pk


def test_adjust_refuses_a_debit_below_zero(user, staff_user):
    fund(user, 5)
    before = database_state()

    with pytest.raises(services.AdjustmentBelowZero) as refused:
        services.tokens_adjust(user_id=user.pk, amount=-6, reason="fix", actor_id=staff_user.pk)

    assert refused.value.http_status == 409
    assert database_state() == before


@pytest.mark.parametrize(("amount", "reason", "field"), [(5, "   ", "reason"), (0, "x", "amount")])
def test_adjust_needs_a_reason_and_an_amount(user, staff_user, amount, reason, field):
    with pytest.raises(Invalid) as refused:
        services.tokens_adjust(
            user_id=user.pk, amount=amount, reason=reason, actor_id=staff_user.pk
        )

    assert refused.value.field == field


def test_a_posting_must_move_lots_by_exactly_its_amount():
    entry = Entry(amount=-5, transaction_type=Type.USAGE)

    with pytest.raises(ValueError, match="add up"):
        Posting(entry=entry, changes=(LotChange(lot_id=uuid4(), amount=-4),))
    with pytest.raises(ValueError, match="Only a credit"):
        Posting(entry=entry, new_lot=LotSpec(category="paid"))


def test_batch_credit_numbers_entries_in_order(user):
    fund(user, 1)
    postings = [
        Posting(
            entry=Entry(
                amount=tokens,
                transaction_type=Type.PURCHASE,
                reference_type="p",
                reference_id=str(tokens),
            ),
            new_lot=LotSpec(category="paid"),
        )
        for tokens in (10, 20, 30)
    ]

    appended = ledger_credit(user_id=user.pk, postings=postings)

    assert [(e.number, e.balance_after) for e in appended] == [(2, 11), (3, 31), (4, 61)]
    assert account_of(user).total_purchased == 60


def test_ledger_check_finds_nothing_wrong_in_a_healthy_ledger(user):
    fund(user, 10)
    services.tokens_debit(user_id=user.pk, amount=3)
    UserFactory()

    assert list(selectors.ledger_check()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"balance": 99}, "balance 99 != sum of entries 7"),
        ({"total_spent": 0}, "total_spent 0 != entries 3"),
        ({"total_purchased": 1}, "total_purchased 1 != entries 0"),
        ({"entry_count": 5}, "entry_count 5, 2 entries, highest number 2"),
    ],
)
def test_ledger_check_reports_an_account_that_disagrees_with_its_entries(user, change, problem):
    fund(user, 10)
    services.tokens_debit(user_id=user.pk, amount=3)
    healthy = UserFactory()
    fund(healthy, 1)
    TokenAccount.objects.filter(user=user).update(**change)

    broken = list(selectors.ledger_check(batch_size=1))

    assert [(b.user_id, problem in b.problems) for b in broken] == [(user.pk, True)]
