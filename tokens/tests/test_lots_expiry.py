"""Lots: one burn order everywhere, exact expiry, refunds that give back to the same lots."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.errors import InvalidState
from common.tests.helpers import database_state
from conftest import client_for
from tokens import selectors, services
from tokens.models import TokenAccount, TokenLot, TokenTransaction
from tokens.tests.factories import fund, grant
from tokens.tests.lot_helpers import NOW, remaining, taken_by

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


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


def test_the_sweep_books_lots_in_the_order_they_expired(user, clock):
    """A sweep that finds several lots (the worker was down for a day) booked them in the
    table's order: the ledger had the later lot expire first, with balances in between that
    never were."""
    later = grant(user, 5, expires_at=NOW + timedelta(days=2))
    sooner = grant(user, 7, expires_at=NOW + timedelta(days=1))
    grant(user, 10)
    clock.move_to(NOW + timedelta(days=3))

    services.lots_expire()

    booked = TokenTransaction.objects.filter(transaction_type="expiration").order_by("number")
    assert list(booked.values_list("reference_id", "balance_after")) == [
        (str(sooner.pk), 15),
        (str(later.pk), 10),
    ]
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


def test_bought_tokens_expire_after_the_bundles_days(user, clock):
    bundle = TokenBundleFactory(token_amount=40, expires_after_days=365)

    capture(checkout(user, bundles=[bundle]).invoice)

    lot = TokenLot.objects.get(category="paid")
    assert (lot.amount, lot.expires_at) == (40, NOW + timedelta(days=365))


def test_a_positive_adjustment_is_a_promotional_lot_that_never_expires(user, staff_user):
    entry = services.tokens_adjust(
        user_id=user.pk, amount=7, reason="sorry", actor_id=staff_user.pk
    )

    lot = TokenLot.objects.get(credit=entry)
    assert (lot.category, lot.expires_at, lot.amount) == ("promotional", None, 7)


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


def test_consume_answers_the_balance_without_tokens_expired_but_not_yet_swept(user, clock):
    grant(user, 5, expires_at=NOW + timedelta(hours=1))
    grant(user, 10)
    clock.shift(timedelta(hours=2))

    response = client_for(user).post(
        "/api/v1/user/tokens/consume", {"amount": 3}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 201
    assert response.json()["balance"] == selectors.token_balance(user_id=user.pk).balance == 7
