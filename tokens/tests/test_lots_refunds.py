"""Lots: one burn order everywhere, exact expiry, refunds that give back to the same lots."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from billing import services as billing_services
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from tokens import selectors, services
from tokens.ledger import InsufficientTokens
from tokens.models import TokenLot, TokenTransaction
from tokens.tests.factories import grant
from tokens.tests.lot_helpers import NOW, remaining, taken_by

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


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


def test_refunding_a_plan_takes_its_included_tokens_back(user, clock):
    order = checkout(user, plan=PlanFactory(included_tokens=500))
    capture(order.invoice)
    services.tokens_debit(user_id=user.pk, amount=100)

    billing_services.invoice_refund(invoice_id=order.invoice.pk)

    assert selectors.token_balance(user_id=user.pk).balance == 0
    void = TokenTransaction.objects.get(transaction_type="void")
    assert void.amount == -400


def test_tokens_given_back_to_a_voided_lot_are_voided_again(user, clock):
    lot = grant(user, 10)
    usage = services.tokens_debit(user_id=user.pk, amount=4)
    services.lot_void(lot_id=lot.pk, reason="abuse", actor_id=None)

    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    voids = TokenTransaction.objects.filter(transaction_type="void").order_by("number")
    assert [entry.amount for entry in voids] == [-6, -4]
    assert remaining(lot) == [0]
    assert list(selectors.ledger_check()) == []


def test_tokens_given_back_to_a_voided_lot_that_has_expired_since_expire(user, clock):
    lot = grant(user, 10, expires_at=NOW + timedelta(hours=1))
    usage = services.tokens_debit(user_id=user.pk, amount=4)
    services.lot_void(lot_id=lot.pk, reason="abuse", actor_id=None)
    clock.move_to(NOW + timedelta(hours=2))

    services.usage_refund(transaction_id=usage.pk, actor_id=None)

    last = TokenTransaction.objects.order_by("-number").first()
    assert (last.transaction_type, last.amount) == ("expiration", -4)
    assert list(selectors.ledger_check()) == []
