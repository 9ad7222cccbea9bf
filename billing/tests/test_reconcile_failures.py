"""An invoice reconciliation cannot finish (its row held past the lock timeout by a stuck
transaction) no longer ends the run for every invoice after it: those were left for the next
hour's run, and the one after, for as long as the lock was held. Each invoice runs on its
own; a failure is logged with its traceback and the run still fails, naming the invoices it
could not finish (as the daily purges, c4caa95, and the expiry sweeps do)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import (
    AddOnSubscription,
    Invoice,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.services.events import event_record
from billing.tests.helpers import checkout
from billing.tests.reconcile_helpers import paid_with_stripe, reconcile, with_stripe_session
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.models import IdempotencyRecord
from common.tests.waits import row_locked, timeouts
from events.models import Event
from jobs import tasks

pytestmark = pytest.mark.django_db(transaction=True)

LOCK_INVOICE = "SELECT 1 FROM billing_invoice WHERE id = %s FOR UPDATE"
LOCK_PAYMENT = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
FAILED = 5


@pytest.fixture
def bundle():
    return TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))


def first_and_other(invoices: list[Invoice]) -> tuple[Invoice, Invoice]:
    """The invoice the steps visit first (they go by id) and the one after it."""
    first, other = sorted(invoices, key=lambda invoice: invoice.pk)
    return first, other


def assert_failure_told(report: dict, code: int, stuck: Invoice, caplog) -> None:
    assert code == FAILED
    assert [line.split(":")[0] for line in report["failed"]] == [stuck.number]
    assert f"could not finish {stuck.number}" in caplog.text
    assert "Traceback" in caplog.text


def test_an_invoice_whose_delivery_cannot_lock_leaves_the_others_completed(user, bundle, caplog):
    invoices = []
    for reference in ("p1", "p2"):
        invoice = checkout(user, bundles=[bundle]).invoice
        Invoice.objects.filter(pk=invoice.pk).update(
            status="paid", paid_at=timezone.now(), provider="payment", payment_reference=reference
        )
        invoices.append(invoice)
    stuck, other = first_and_other(invoices)

    with timeouts(lock_ms=200, statement_ms=15000), row_locked(LOCK_INVOICE, [stuck.pk]):
        report, code = reconcile()

    assert report["paid_invoices_completed"] == 1
    assert TokenBundlePurchase.objects.get(invoice=other).status == "completed"
    assert TokenBundlePurchase.objects.get(invoice=stuck).status == "pending"
    assert_failure_told(report, code, stuck, caplog)


def test_a_stale_session_whose_invoice_cannot_lock_leaves_the_others_cancelled(
    user, user_client, bundle, fake_stripe, caplog
):
    invoices = []
    for _ in range(2):
        invoice = checkout(user, bundles=[bundle]).invoice
        fake_stripe.expire(
            with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=2))
        )
        invoices.append(invoice)
    stuck, other = first_and_other(invoices)

    with timeouts(lock_ms=200, statement_ms=15000), row_locked(LOCK_INVOICE, [stuck.pk]):
        report, code = reconcile()

    assert (report["stripe_sessions_checked"], report["invoices_cancelled"]) == (2, 1)
    assert Invoice.objects.get(pk=other.pk).status == "cancelled"
    assert Invoice.objects.get(pk=stuck.pk).status == "pending"
    assert_failure_told(report, code, stuck, caplog)


def test_a_lost_refund_whose_invoice_cannot_lock_leaves_the_others_refunded(
    user, user_client, bundle, fake_stripe, caplog
):
    invoices = [paid_with_stripe(user, user_client, bundle, fake_stripe) for _ in range(2)]
    for invoice in invoices:
        fake_stripe.refunded(invoice.stripe_session_id)
    stuck, other = first_and_other(invoices)

    with timeouts(lock_ms=200, statement_ms=15000), row_locked(LOCK_INVOICE, [stuck.pk]):
        report, code = reconcile()

    assert (report["paid_invoices_verified"], report["invoices_refunded"]) == (2, 1)
    assert Invoice.objects.get(pk=other.pk).status == "refunded"
    assert Invoice.objects.get(pk=stuck.pk).status == "paid"
    assert_failure_told(report, code, stuck, caplog)


def test_a_held_refund_whose_payment_cannot_lock_leaves_the_others_applied(
    user, user_client, bundle, fake_stripe, caplog
):
    """Refunds held for a capture that came since (its webhook applied none of them): the
    run applies each under its payment's lock, which a stuck delivery of the first holds."""
    invoices = [paid_with_stripe(user, user_client, bundle, fake_stripe) for _ in range(2)]
    for invoice in invoices:
        refund = fake_stripe.refunded(invoice.stripe_session_id)
        PaymentEvent.objects.create(
            provider="stripe",
            event_id=refund["id"],
            event_type=refund["type"],
            payload=json.dumps(refund),
            signature_valid=True,
            outcome="held",
            payment_reference=invoice.payment_reference,
        )
    # Paid before the window that asks Stripe again, so only the held refunds apply them.
    Invoice.objects.update(paid_at=timezone.now() - timedelta(days=2))
    stuck, other = first_and_other(invoices)

    with (
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(LOCK_PAYMENT, [f"stripe-payment:{stuck.payment_reference}"]),
    ):
        report, code = reconcile()

    assert report["held_refunds_applied"] == 1
    assert Invoice.objects.get(pk=other.pk).status == "refunded"
    assert Invoice.objects.get(pk=stuck.pk).status == "paid"
    refunds = PaymentEvent.objects.filter(event_type="charge.refunded")
    assert refunds.get(payment_reference=stuck.payment_reference).outcome == "held"
    assert refunds.get(payment_reference=other.payment_reference).outcome == "processed"
    assert_failure_told(report, code, stuck, caplog)


def test_a_lost_stripe_event_whose_payment_cannot_lock_leaves_the_others_applied(
    user, user_client, bundle, fake_stripe, caplog
):
    """Refunds Stripe made a day after payments of two days ago, their webhooks lost: the
    run handles each listed event on its own, under its payment's lock, which a stuck
    delivery of the first holds."""
    invoices = [paid_with_stripe(user, user_client, bundle, fake_stripe) for _ in range(2)]
    Invoice.objects.update(paid_at=timezone.now() - timedelta(days=2))
    with time_machine.travel(timezone.now() - timedelta(days=1), tick=False):
        refunds = {i.pk: fake_stripe.refunded(i.stripe_session_id)["id"] for i in invoices}
    stuck, other = first_and_other(invoices)

    with (
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(LOCK_PAYMENT, [f"stripe-payment:{stuck.payment_reference}"]),
    ):
        report, code = reconcile()

    assert (report["stripe_events_recovered"], report["invoices_refunded"]) == (1, 1)
    assert Invoice.objects.get(pk=other.pk).status == "refunded"
    assert Invoice.objects.get(pk=stuck.pk).status == "paid"
    assert not PaymentEvent.objects.filter(event_id=refunds[stuck.pk]).exists()
    assert code == FAILED
    what = f"stripe event {refunds[stuck.pk]} (charge.refunded)"
    assert [line.split(":")[0] for line in report["failed"]] == [what]
    assert f"could not finish {what}" in caplog.text
    assert "Traceback" in caplog.text


def test_a_step_that_fails_leaves_the_later_steps_done(user, caplog):
    """The idempotency purge deletes in batches; an old record held by a stuck transaction
    fails that step as a whole, and the run used to end there: the events needing review
    went uncounted."""
    old = IdempotencyRecord.objects.create(
        user=user, key="old", request_fingerprint="f", response_status=201, response_body={}
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    event_record(
        provider="payment",
        payload="{}",
        signature_valid=True,
        event_id="evt-1",
        outcome="needs_review",
        error="for a person",
    )

    with (
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked("SELECT 1 FROM common_idempotencyrecord WHERE id = %s FOR UPDATE", [old.pk]),
    ):
        report, code = reconcile()

    assert (report["idempotency_records_purged"], report["payments_needing_review"]) == (0, 1)
    assert IdempotencyRecord.objects.filter(pk=old.pk).exists()
    assert code == FAILED
    assert [line.split(":")[0] for line in report["failed"]] == ["idempotency records"]
    assert "could not finish idempotency records" in caplog.text
    assert "Traceback" in caplog.text


def ended_plans(*users) -> list[Subscription]:
    """A plan with an add-on bought by each user, both ended a day ago."""
    plan, add_on = PlanFactory(), AddOnFactory()
    for each in users:
        invoice = checkout(each, plan=plan, add_ons=[add_on]).invoice
        services.invoice_capture(
            invoice_id=invoice.pk, payment_reference=f"p-{each.pk}", provider="payment"
        )
    ended = timezone.now() - timedelta(days=1)
    Subscription.objects.update(expires_at=ended)
    AddOnSubscription.objects.update(expires_at=ended)
    return sorted(Subscription.objects.select_related("invoice"), key=lambda s: s.pk)


@pytest.mark.parametrize("held", ["billing_subscription", "billing_addonsubscription"])
def test_a_subscription_that_cannot_lock_leaves_the_others_expired(user, held, caplog):
    """Ended subscriptions and add-ons expired in one transaction: one of them held by a
    stuck transaction (a refund of its invoice, say) kept every other active, still covering
    usage and never told `subscription.expired`, until it was released. Each expires on its
    own now."""
    stuck, other = ended_plans(user, UserFactory())
    row = stuck.pk
    if held == "billing_addonsubscription":
        row = AddOnSubscription.objects.get(subscription=stuck).pk

    with (
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(f"SELECT 1 FROM {held} WHERE id = %s FOR UPDATE", [row]),  # noqa: S608
    ):
        report, code = reconcile()

    assert report["subscriptions_expired"] == 3
    assert Subscription.objects.get(pk=other.pk).status == "expired"
    assert AddOnSubscription.objects.get(subscription=other).status == "expired"
    statuses = (
        Subscription.objects.get(pk=stuck.pk).status,
        AddOnSubscription.objects.get(subscription=stuck).status,
    )
    assert statuses == (
        ("active", "expired") if held == "billing_subscription" else ("expired", "active")
    )
    assert Event.objects.filter(type="subscription.expired").count() == (
        1 if held == "billing_subscription" else 2
    )
    assert code == FAILED
    assert [line.split(":")[0] for line in report["failed"]] == [stuck.invoice.number]
    assert f"could not finish {stuck.invoice.number}" in caplog.text
    assert "Traceback" in caplog.text


def test_the_hourly_task_still_fails_naming_the_invoice(user, bundle, caplog):
    """The worker logs a refusal of the command (another run holds the lock, Stripe down)
    and goes on; an invoice it could not reconcile fails the task, as it did when the
    first such invoice ended the run, so the task's failure still shows."""
    invoice = checkout(user, bundles=[bundle]).invoice
    Invoice.objects.filter(pk=invoice.pk).update(
        status="paid", paid_at=timezone.now(), provider="payment", payment_reference="p1"
    )

    with (
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(LOCK_INVOICE, [invoice.pk]),
        pytest.raises(Exception, match=invoice.number),
    ):
        tasks.reconcile_purchases.call()

    assert f"could not finish {invoice.number}" in caplog.text
