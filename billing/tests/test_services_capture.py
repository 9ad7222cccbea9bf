from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import services, signals
from billing.models import AddOnSubscription, Invoice, Subscription, TokenBundlePurchase
from billing.tests.helpers import capture, checkout
from catalog.models import BillingPeriod
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.errors import InvalidState, NotFound
from common.tests.helpers import database_state
from tokens.models import TokenAccount, TokenTransaction

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def order(user):
    """A checkout of a monthly plan, two bundles (one twice) and a monthly and one-time add-on."""
    small = TokenBundleFactory(token_amount=50, price=Decimal("45.00"))
    big = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    return checkout(
        user,
        plan=PlanFactory(billing_period=BillingPeriod.MONTHLY),
        bundles=[small, big, small],
        add_ons=[
            AddOnFactory(billing_period=BillingPeriod.MONTHLY),
            AddOnFactory(billing_period=BillingPeriod.ONE_TIME),
        ],
    )


def at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_capture_pays_and_activates_everything_once(user, order):
    result = capture(order.invoice)

    assert (result.status, result.subscription_activated) == ("success", True)
    assert (result.tokens_credited, result.addons_activated) == (1100, 2)
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (invoice.status, invoice.payment_reference, invoice.provider) == (
        "paid",
        "pay-1",
        "payment",
    )
    assert Subscription.objects.get(invoice=invoice).status == "active"
    assert set(
        AddOnSubscription.objects.filter(invoice=invoice).values_list("status", flat=True)
    ) == {"active"}
    purchases = TokenBundlePurchase.objects.filter(invoice=invoice)
    assert {(p.status, p.completed_at) for p in purchases} == {("completed", invoice.paid_at)}
    assert TokenAccount.objects.get(user=user).balance == 1100
    entries = TokenTransaction.objects.filter(account__user=user, transaction_type="purchase")
    assert sorted(entries.values_list("reference_id", flat=True)) == sorted(
        str(p.pk) for p in purchases
    )


def test_a_month_is_a_calendar_month_and_one_time_add_ons_never_expire(monkeypatch, order):
    paid = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    at(monkeypatch, paid)

    capture(order.invoice)

    subscription = Subscription.objects.get(invoice=order.invoice)
    assert (subscription.starts_at, subscription.expires_at) == (
        paid,
        datetime(2026, 2, 28, 12, 0, tzinfo=UTC),
    )
    expiries = dict(
        AddOnSubscription.objects.filter(invoice=order.invoice).values_list(
            "billing_period", "expires_at"
        )
    )
    assert expiries == {"monthly": datetime(2026, 2, 28, 12, 0, tzinfo=UTC), "one_time": None}


def test_a_year_is_a_calendar_year(monkeypatch, user):
    at(monkeypatch, datetime(2028, 2, 29, 8, 30, tzinfo=UTC))
    result = checkout(user, plan=PlanFactory(billing_period=BillingPeriod.YEARLY))

    capture(result.invoice)

    expires = Subscription.objects.get(invoice=result.invoice).expires_at
    assert expires == datetime(2029, 2, 28, 8, 30, tzinfo=UTC)


def test_the_same_payment_again_is_already_processed_and_changes_nothing(order):
    capture(order.invoice)
    before = database_state()

    again = capture(order.invoice)

    assert (again.status, again.tokens_credited) == ("already_processed", 0)
    assert database_state() == before


def test_a_paid_invoice_cannot_be_paid_by_another_payment(order):
    capture(order.invoice, reference="pay-1")
    before = database_state()

    with pytest.raises(InvalidState, match="another payment"):
        capture(order.invoice, reference="pay-2")

    assert database_state() == before


def test_one_payment_cannot_pay_two_invoices(user, order):
    other = checkout(user, bundles=[TokenBundleFactory()])
    capture(order.invoice, reference="pay-1")
    before = database_state()

    with pytest.raises(services.PaymentReferenceUsed):
        capture(other.invoice, reference="pay-1")

    assert database_state() == before


def test_a_cancelled_invoice_cannot_be_captured(order):
    services.invoice_cancel(invoice_id=order.invoice.pk)
    before = database_state()

    with pytest.raises(InvalidState, match="cancelled"):
        capture(order.invoice)

    assert database_state() == before


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        (Decimal("1.00"), "USD", services.AmountMismatch),
        (None, "EUR", services.CurrencyMismatch),
    ],
)
def test_amount_and_currency_must_match_and_the_invoice_stays_pending(
    order, amount, currency, error
):
    before = database_state()

    with pytest.raises(error):
        services.invoice_capture(
            invoice_id=order.invoice.pk,
            payment_reference="pay-1",
            provider="payment",
            amount=amount if amount is not None else order.invoice.total,
            currency=currency,
        )

    assert database_state() == before


def test_an_unknown_invoice_is_not_found(user):
    with pytest.raises(NotFound):
        services.invoice_capture(invoice_id=user.pk, payment_reference="x", provider="payment")


def test_if_a_receiver_fails_nothing_of_the_capture_persists(order):
    def broken_receiver(sender, **kwargs):
        raise RuntimeError("the mail server is down")

    signals.invoice_paid.connect(broken_receiver, dispatch_uid="test.broken")
    before = database_state()
    try:
        with pytest.raises(RuntimeError):
            capture(order.invoice)
    finally:
        signals.invoice_paid.disconnect(dispatch_uid="test.broken")

    assert database_state() == before
    assert capture(order.invoice).status == "success"


def test_delivering_a_paid_invoice_again_changes_nothing(user, order):
    result = capture(order.invoice)
    invoice = Invoice.objects.get(pk=result.invoice.pk)
    before = database_state()

    with transaction.atomic():
        delivery = services.invoice_deliver(invoice=invoice)

    assert database_state() == before
    assert delivery == services.Delivery(
        subscription_activated=False, tokens_credited=0, addons_activated=0
    )


def test_the_ledger_refuses_to_credit_a_purchase_twice(user, order):
    capture(order.invoice)
    purchase = order.purchases[0]
    again = signals.InvoicePaid(
        invoice_id=order.invoice.pk,
        user_id=user.pk,
        number=order.invoice.number,
        paid_at=timezone.now(),
        purchases=(
            signals.PurchasedTokens(
                purchase_id=purchase.pk,
                tokens=purchase.tokens,
                reference_type=signals.PURCHASE_REFERENCE_TYPE,
                reference_id=str(purchase.pk),
                description="again",
            ),
        ),
    )
    before = database_state()

    with pytest.raises(IntegrityError), transaction.atomic():
        signals.invoice_paid.send(sender=Invoice, paid=again)

    assert database_state() == before


@pytest.mark.django_db(transaction=True)
def test_delivery_refuses_to_run_outside_a_transaction(order):
    with pytest.raises(RuntimeError, match="inside its caller's transaction"):
        services.invoice_deliver(invoice=order.invoice)


def test_cancel_cancels_the_invoice_and_its_items(order):
    services.invoice_cancel(invoice_id=order.invoice.pk)

    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert invoice.status == "cancelled"
    assert Subscription.objects.get(invoice=invoice).status == "cancelled"
    assert set(
        TokenBundlePurchase.objects.filter(invoice=invoice).values_list("status", flat=True)
    ) == {"cancelled"}
    assert set(
        AddOnSubscription.objects.filter(invoice=invoice).values_list("status", flat=True)
    ) == {"cancelled"}


def test_only_a_pending_invoice_can_be_cancelled(order):
    capture(order.invoice)
    before = database_state()

    with pytest.raises(InvalidState, match="pending"):
        services.invoice_cancel(invoice_id=order.invoice.pk)

    assert database_state() == before
