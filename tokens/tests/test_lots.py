"""Lots: one burn order everywhere, exact expiry, refunds that give back to the same lots."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

from billing import services as billing_services
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from common.errors import Invalid, InvalidState
from common.tests.helpers import database_state
from conftest import client_for
from tokens import selectors, services
from tokens.ledger import InsufficientTokens
from tokens.models import TokenAccount, TokenAllocation, TokenLot, TokenTransaction
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def fund_paid(user, amount: int) -> TokenLot:
    """A paid lot that never expires, as a purchase credits it."""
    entry = services.tokens_credit(
        user_id=user.pk,
        amount=amount,
        transaction_type="purchase",
        reference_type="test",
        reference_id=f"purchase-{amount}",
    )
    return TokenLot.objects.get(credit=entry)


def remaining(*lots: TokenLot) -> list[int]:
    return [TokenLot.objects.get(pk=lot.pk).remaining for lot in lots]


def taken_by(entry: TokenTransaction) -> dict:
    return {a.lot_id: a.amount for a in TokenAllocation.objects.filter(entry=entry)}


def test_debits_burn_by_priority_then_expiry_then_category_then_age(user, clock):
    paid_late = grant(user, 10, category="included", expires_at=NOW + timedelta(days=9))
    never = grant(user, 10)
    soon = grant(user, 10, category="promotional", expires_at=NOW + timedelta(days=2))
    trial_same_time = grant(user, 10, category="trial", expires_at=NOW + timedelta(days=2))
    urgent = grant(user, 10, priority=10)

    entry = services.tokens_debit(user_id=user.pk, amount=35)

    assert remaining(urgent, trial_same_time, soon, paid_late, never) == [0, 0, 0, 5, 10]
    assert taken_by(entry) == {
        urgent.pk: -10,
        trial_same_time.pk: -10,
        soon.pk: -10,
        paid_late.pk: -5,
    }


def test_of_two_lots_that_never_expire_the_category_decides_before_the_age(user, clock):
    bought = fund_paid(user, 10)
    clock.shift(timedelta(hours=1))
    free = grant(user, 10)

    services.tokens_debit(user_id=user.pk, amount=4)

    assert remaining(free, bought) == [6, 10]


def test_of_two_lots_alike_the_older_burns_first(user, clock):
    older = grant(user, 5)
    clock.shift(timedelta(seconds=1))
    newer = grant(user, 5)

    services.tokens_debit(user_id=user.pk, amount=6)

    assert remaining(older, newer) == [0, 4]


def test_an_expired_lot_leaves_the_balance_at_its_instant_without_a_sweep(user, clock):
    expiring = grant(user, 30, expires_at=NOW + timedelta(hours=1))
    grant(user, 5)

    before = selectors.token_balance(user_id=user.pk)
    clock.move_to(NOW + timedelta(hours=1))
    at_expiry = selectors.token_balance(user_id=user.pk)

    assert (before.balance, at_expiry.balance) == (35, 5)
    assert at_expiry.by_category["promotional"] == 5
    assert TokenLot.objects.get(pk=expiring.pk).remaining == 30
    with pytest.raises(services.InsufficientTokens) as short:
        services.tokens_debit(user_id=user.pk, amount=6)
    assert (short.value.balance, short.value.needed) == (5, 6)
    assert TokenLot.objects.get(pk=expiring.pk).remaining == 30


def test_a_debit_never_spends_an_expired_lot(user, clock):
    expired = grant(user, 30, expires_at=NOW + timedelta(minutes=1))
    kept = grant(user, 10)
    clock.move_to(NOW + timedelta(minutes=1))

    entry = services.tokens_debit(user_id=user.pk, amount=4)

    assert taken_by(entry) == {kept.pk: -4}
    assert remaining(expired, kept) == [30, 6]


def test_the_sweep_books_expired_lots_once_and_the_balance_does_not_move(user, clock):
    expired = grant(user, 30, expires_at=NOW + timedelta(minutes=1))
    grant(user, 10)
    clock.move_to(NOW + timedelta(minutes=2))
    shown = selectors.token_balance(user_id=user.pk).balance

    first = services.lots_expire()
    second = services.lots_expire()

    assert (first.lots, first.tokens, second.lots) == (1, 30, 0)
    entry = TokenTransaction.objects.get(transaction_type="expiration")
    assert (entry.amount, entry.reference_id, entry.balance_after) == (-30, str(expired.pk), 10)
    assert TokenAccount.objects.get(user=user).balance == shown == 10
    assert remaining(expired) == [0]
    assert list(selectors.ledger_check()) == []


def test_expire_lots_dry_run_counts_and_changes_nothing(user, clock):
    grant(user, 30, expires_at=NOW + timedelta(minutes=1))
    clock.move_to(NOW + timedelta(minutes=2))
    before = database_state()

    out = StringIO()
    call_command("expire_lots", "--dry-run", stdout=out)

    assert "1 lot(s) would expire: 30 tokens of 1 account(s)." in out.getvalue()
    assert database_state() == before


@pytest.mark.parametrize("batch_size", ["0", "-1"])
def test_expire_lots_refuses_a_batch_size_below_one_and_changes_nothing(user, clock, batch_size):
    """0 took no account and reported "0 lot(s) expired" with a lot due (nothing done, no
    error); -1 was a traceback."""
    grant(user, 30, expires_at=NOW + timedelta(minutes=1))
    clock.move_to(NOW + timedelta(minutes=2))
    before = database_state()

    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("expire_lots", "--batch-size", batch_size, stdout=StringIO())

    assert database_state() == before


def test_a_usage_refund_gives_back_to_the_lots_it_took_from(user, clock):
    first = grant(user, 5, priority=1)
    second = grant(user, 10, priority=2)
    usage = services.tokens_debit(user_id=user.pk, amount=8)
    services.tokens_debit(user_id=user.pk, amount=1)

    refund = services.usage_refund(transaction_id=usage.pk, actor_id=None)

    assert taken_by(refund) == {first.pk: 5, second.pk: 3}
    assert remaining(first, second) == [5, 9]


def test_tokens_given_back_to_a_lot_that_has_expired_expire_again_at_once(user, clock):
    short_lived = grant(user, 5, expires_at=NOW + timedelta(hours=1))
    grant(user, 10)
    usage = services.tokens_debit(user_id=user.pk, amount=5)
    clock.move_to(NOW + timedelta(hours=2))

    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    expiration = TokenTransaction.objects.get(transaction_type="expiration")
    assert (expiration.amount, expiration.reference_id) == (-5, str(short_lived.pk))
    assert remaining(short_lived) == [0]
    assert selectors.token_balance(user_id=user.pk).balance == 10
    assert list(selectors.ledger_check()) == []


@pytest.mark.parametrize("swept_first", [True, False])
def test_a_usage_refund_after_its_lot_expired_and_was_swept_gives_nothing_spendable_back(
    user, clock, swept_first
):
    """7 of a lot of 10 used, the lot expired (its 3 swept, or not yet), then the usage given
    back: the 7 land in the lot and leave by a second `expiration`; nothing comes back to
    spend, nothing leaves without an entry, and the sweep after books only what is left."""
    short_lived = grant(user, 10, expires_at=NOW + timedelta(hours=1))
    grant(user, 5)
    usage = services.tokens_debit(user_id=user.pk, amount=7)
    clock.move_to(NOW + timedelta(hours=2))
    if swept_first:
        call_command("expire_lots", stdout=StringIO())
    clock.move_to(NOW + timedelta(hours=3))

    services.usage_refund(transaction_id=usage.pk, actor_id=None)
    call_command("expire_lots", stdout=StringIO())

    expirations = TokenTransaction.objects.filter(transaction_type="expiration")
    assert sorted(expirations.values_list("amount", flat=True)) == [-7, -3]
    assert remaining(short_lived) == [0]
    assert selectors.token_balance(user_id=user.pk).balance == 5
    with pytest.raises(InsufficientTokens):
        services.tokens_debit(user_id=user.pk, amount=6)
    assert list(selectors.ledger_check()) == []


def test_an_invoice_refund_takes_back_only_that_purchases_lot(user, clock):
    grant(user, 100, priority=90)
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=50)])
    capture(order.invoice)
    services.tokens_debit(user_id=user.pk, amount=20)

    billing_services.invoice_refund(invoice_id=order.invoice.pk)

    purchase = order.purchases[0]
    purchase.refresh_from_db()
    assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (30, 20)
    assert selectors.token_balance(user_id=user.pk).by_category == {
        "trial": 0,
        "promotional": 100,
        "included": 0,
        "paid": 0,
    }


@pytest.mark.parametrize(("used", "unrecovered"), [(0, 0), (20, 20), (50, 50)])
def test_tokens_staff_voided_before_an_invoice_refund_are_not_recorded_as_spent(
    user, staff_user, clock, used, unrecovered
):
    """Bought 50, used some, staff voided the rest, then the invoice refunded: what the void
    took was never spent, and the seller had it back already. It was recorded as
    `tokens_unrecovered`, which the admin reads out as "already spent" and `invoice.refunded`
    tells the seller's systems: 50 unspent tokens reported as the customer's."""
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=50)])
    capture(order.invoice)
    lot = TokenLot.objects.get(category="paid")
    if used:
        services.tokens_debit(user_id=user.pk, amount=used)
    if used < 50:
        services.lot_void(lot_id=lot.pk, reason="fraud check", actor_id=staff_user.pk)

    result = billing_services.invoice_refund(invoice_id=order.invoice.pk)

    purchase = order.purchases[0]
    purchase.refresh_from_db()
    assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (0, unrecovered)
    assert (result.tokens_reversed, result.tokens_unrecovered) == (0, unrecovered)
    assert list(selectors.ledger_check()) == []


def test_tokens_given_back_to_a_voided_lot_before_an_invoice_refund_are_not_spent(
    user, staff_user, clock
):
    """Used 20 of 50, 30 voided, the usage refunded (its 20 leave the voided lot again by a
    void): nothing of the purchase was spent when the invoice is refunded."""
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=50)])
    capture(order.invoice)
    usage = services.tokens_debit(user_id=user.pk, amount=20)
    lot = TokenLot.objects.get(category="paid")
    services.lot_void(lot_id=lot.pk, reason="fraud check", actor_id=staff_user.pk)
    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    billing_services.invoice_refund(invoice_id=order.invoice.pk)

    purchase = order.purchases[0]
    purchase.refresh_from_db()
    assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (0, 0)


@pytest.mark.parametrize("used", [20, 50])
def test_a_usage_refund_after_an_invoice_refund_gives_no_bought_tokens_back(user, clock, used):
    """Bought 50, used some, the invoice refunded: the money went back for all 50, so giving
    the usage back must not make its tokens spendable again (before, 20 or 50 came back)."""
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=50)])
    capture(order.invoice)
    usage = services.tokens_debit(user_id=user.pk, amount=used)
    billing_services.invoice_refund(invoice_id=order.invoice.pk)

    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    balance = selectors.token_balance(user_id=user.pk)
    assert (balance.balance, balance.available, balance.by_category["paid"]) == (0, 0, 0)
    last = TokenTransaction.objects.order_by("-number").first()
    assert (last.transaction_type, last.amount) == ("void", -used)
    assert TokenLot.objects.get(category="paid").voided_at == NOW
    assert list(selectors.ledger_check()) == []


def test_a_usage_refund_after_a_plan_refund_gives_no_spent_included_tokens_back(user, clock):
    capture(checkout(user, plan=PlanFactory(included_tokens=50)).invoice)
    usage = services.tokens_debit(user_id=user.pk, amount=50)
    billing_services.invoice_refund(invoice_id=Invoice.objects.get(user=user).pk)

    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    assert selectors.token_balance(user_id=user.pk).balance == 0
    assert list(selectors.ledger_check()) == []


def test_bought_tokens_expire_after_the_bundles_days(user, clock):
    bundle = TokenBundleFactory(token_amount=40, expires_after_days=365)

    capture(checkout(user, bundles=[bundle]).invoice)

    lot = TokenLot.objects.get(category="paid")
    assert (lot.amount, lot.expires_at) == (40, NOW + timedelta(days=365))


def test_a_paid_plan_period_grants_its_included_tokens_until_it_ends(user, clock):
    plan = PlanFactory(included_tokens=500, billing_period="monthly")

    capture(checkout(user, plan=plan).invoice)

    lot = TokenLot.objects.get(category="included")
    assert (lot.amount, lot.expires_at) == (500, datetime(2026, 7, 1, 12, 0, tzinfo=UTC))


def test_refunding_a_plan_takes_its_included_tokens_back(user, clock):
    order = checkout(user, plan=PlanFactory(included_tokens=500))
    capture(order.invoice)
    services.tokens_debit(user_id=user.pk, amount=100)

    billing_services.invoice_refund(invoice_id=order.invoice.pk)

    assert selectors.token_balance(user_id=user.pk).balance == 0
    void = TokenTransaction.objects.get(transaction_type="void")
    assert void.amount == -400


def test_a_positive_adjustment_is_a_promotional_lot_that_never_expires(user, staff_user):
    entry = services.tokens_adjust(
        user_id=user.pk, amount=7, reason="sorry", actor_id=staff_user.pk
    )

    lot = TokenLot.objects.get(credit=entry)
    assert (lot.category, lot.expires_at, lot.amount) == ("promotional", None, 7)


def test_a_negative_adjustment_burns_like_a_debit(user, staff_user, clock):
    first = grant(user, 3, priority=1)
    second = grant(user, 10, priority=2)

    services.tokens_adjust(user_id=user.pk, amount=-5, reason="oops", actor_id=staff_user.pk)

    assert remaining(first, second) == [0, 8]


def test_the_trial_comes_with_sign_up(settings, api_client, clock):
    settings.TRIAL_TOKENS, settings.TRIAL_DAYS = 3, 30

    response = api_client.post(
        "/api/v1/auth/register", {"email": "new@example.com", "password": "a-long-password-1"}
    )

    lot = TokenLot.objects.get(account__user_id=response.json()["id"])
    assert (lot.category, lot.amount, lot.expires_at) == ("trial", 3, NOW + timedelta(days=30))


def test_the_trial_comes_with_a_user_added_in_the_admin(settings, staff_browser, clock):
    """A customer added by staff in the admin is a new user as one who signed up is; Django's
    add-user view saved them without announcing it, so they got no trial."""
    settings.TRIAL_TOKENS, settings.TRIAL_DAYS = 3, 30
    password = "a-long-password-1"

    response = staff_browser.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New@Example.com",
            "usable_password": "true",
            "password1": password,
            "password2": password,
        },
    )

    assert response.status_code == 302
    lot = TokenLot.objects.get(account__user__email="new@example.com")
    assert (lot.category, lot.amount, lot.expires_at) == ("trial", 3, NOW + timedelta(days=30))
    assert selectors.token_balance(user_id=lot.account.user_id).balance == 3


def test_no_trial_when_it_is_turned_off(settings, api_client):
    settings.TRIAL_TOKENS = 0

    api_client.post(
        "/api/v1/auth/register", {"email": "new@example.com", "password": "a-long-password-1"}
    )

    assert not TokenLot.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"category": "paid"}, "category"),
        ({"expires_at": NOW - timedelta(seconds=1)}, "expires_at"),
        ({"priority": 101}, "priority"),
        ({"reason": "  "}, "reason"),
    ],
)
def test_a_refused_grant_names_its_field_and_writes_nothing(user, clock, fields, field):
    before = database_state()
    arguments = {"amount": 5, "category": "promotional", "reason": "gift", **fields}

    with pytest.raises(Invalid) as refused:
        services.lot_grant(user_id=user.pk, actor_id=None, **arguments)

    assert refused.value.field == field
    assert database_state() == before


def test_a_void_takes_what_is_left_once(user, clock):
    lot = grant(user, 10)
    services.tokens_debit(user_id=user.pk, amount=4)

    voided = services.lot_void(lot_id=lot.pk, reason="abuse", actor_id=None)

    assert (voided.remaining, voided.voided_at) == (0, NOW)
    entry = TokenTransaction.objects.get(transaction_type="void")
    assert (entry.amount, entry.balance_after) == (-6, 0)
    with pytest.raises(InvalidState, match="This lot is voided already"):
        services.lot_void(lot_id=lot.pk, reason="again", actor_id=None)


def test_a_void_of_an_expired_lot_is_refused_and_changes_nothing(user, clock):
    lot = grant(user, 10, expires_at=NOW + timedelta(minutes=1))
    clock.move_to(NOW + timedelta(minutes=1))
    before = database_state()

    with pytest.raises(InvalidState, match="expired"):
        services.lot_void(lot_id=lot.pk, reason="late", actor_id=None)

    assert database_state() == before


def test_the_balance_lists_what_expires_in_the_next_30_days(user, clock):
    grant(user, 1, expires_at=NOW + timedelta(days=31))
    grant(user, 2, expires_at=NOW + timedelta(days=20))
    grant(user, 3, expires_at=NOW + timedelta(days=10))
    fund(user, 4)

    balance = selectors.token_balance(user_id=user.pk)

    assert [(e.amount, e.expires_at) for e in balance.expiring] == [
        (3, NOW + timedelta(days=10)),
        (2, NOW + timedelta(days=20)),
    ]
    assert balance.balance == 10


def test_tokens_given_back_to_a_voided_lot_are_voided_again(user, clock):
    lot = grant(user, 10)
    usage = services.tokens_debit(user_id=user.pk, amount=4)
    services.lot_void(lot_id=lot.pk, reason="abuse", actor_id=None)

    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    voids = TokenTransaction.objects.filter(transaction_type="void").order_by("number")
    assert [entry.amount for entry in voids] == [-6, -4]
    assert remaining(lot) == [0]
    assert list(selectors.ledger_check()) == []


def test_consume_answers_the_balance_without_tokens_expired_but_not_yet_swept(user, clock):
    grant(user, 5, expires_at=NOW + timedelta(hours=1))
    grant(user, 10)
    clock.shift(timedelta(hours=2))

    response = client_for(user).post(
        "/api/v1/user/tokens/consume", {"amount": 3}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 201
    assert response.json()["balance"] == selectors.token_balance(user_id=user.pk).balance == 7


def test_tokens_given_back_to_a_voided_lot_that_has_expired_since_expire(user, clock):
    lot = grant(user, 10, expires_at=NOW + timedelta(hours=1))
    usage = services.tokens_debit(user_id=user.pk, amount=4)
    services.lot_void(lot_id=lot.pk, reason="abuse", actor_id=None)
    clock.move_to(NOW + timedelta(hours=2))

    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    last = TokenTransaction.objects.order_by("-number").first()
    assert (last.transaction_type, last.amount) == ("expiration", -4)
    assert list(selectors.ledger_check()) == []
