"""Reconciliation beside live traffic, on PostgreSQL with real threads, each with its own
connection."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing import services, stripe_gateway
from billing.models import Invoice, PaymentEvent, TokenBundlePurchase
from billing.services import reconcile
from billing.services.reconcile import local
from billing.services.stripe_webhook import stripe_event_recover, stripe_webhook_process
from billing.tests.helpers import capture, checkout
from billing.tests.reconcile_helpers import delivered, paid_with_stripe, with_stripe_session
from catalog.tests.factories import TokenBundleFactory
from common.tests.concurrency import meeting, run_together
from events.models import Event
from tokens.models import TokenAccount, TokenTransaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_refund_committing_while_reconciliation_waits_for_the_invoice_credits_nothing():
    """Reconciliation lists a paid invoice whose purchase was never delivered, then waits for
    its row while a refund holds it. Before, it delivered the purchase of the invoice the
    refund had just committed: its tokens were credited though the money had gone back."""
    user = UserFactory()
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=1000)]).invoice
    Invoice.objects.filter(pk=invoice.pk).update(
        status="paid", paid_at=timezone.now(), provider="payment", payment_reference="p"
    )
    report = reconcile.ReconcileReport(dry_run=False)

    answers = meeting(
        lambda: services.invoice_refund(invoice_id=invoice.pk),
        lambda: reconcile.paid_invoices_complete(report),
    )

    assert isinstance(answers["held"], services.RefundResult)
    assert answers["waiting"] is None
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    entries = TokenTransaction.objects.filter(account__user=user)
    assert list(entries.values_list("transaction_type", "amount")) == []
    assert not TokenAccount.objects.filter(user=user, balance__gt=0).exists()
    assert TokenBundlePurchase.objects.get(invoice=invoice).status != "completed"
    assert report.paid_invoices_completed == 0


def test_an_invoice_captured_while_reconciliation_reads_the_pending_ones_is_announced_once(
    monkeypatch,
):
    """A payment's webhook captures an invoice after reconciliation has read the pending
    items and before it reads which of their invoices are paid. Before, reconciliation took
    it for a paid invoice never delivered and delivered it again: nothing was left to credit,
    but the seller's systems were told `invoice.paid` a second time, and the run reported
    the invoice completed."""
    user = UserFactory()
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=1000)]).invoice
    listed = local.pending_items_invoices
    captured = []

    def listed_then_captured():
        waiting = list(listed())
        captured.extend(run_together([lambda: capture(invoice)], workers=1))
        return waiting

    monkeypatch.setattr(local, "pending_items_invoices", listed_then_captured)
    report = reconcile.ReconcileReport(dry_run=False)

    reconcile.paid_invoices_complete(report)

    assert [result.status for result in captured] == ["success"]
    assert Event.objects.filter(type="invoice.paid").count() == 1
    assert report.paid_invoices_completed == 0
    assert TokenAccount.objects.get(user=user).balance == 1000


def stripe_delivery(fake_stripe, event: dict):
    """Stripe's delivery of `event`, as the webhook's view hands it on."""
    body, header = fake_stripe.signed(event)
    return lambda: stripe_webhook_process(
        raw_body=body, signature_header=header, forgery_recordable=lambda: False
    )


@pytest.mark.parametrize("first", ["webhook", "reconciliation"])
def test_a_refund_delivered_while_reconciliation_recovers_it_is_applied_once(
    first, user, user_client, fake_stripe
):
    """The webhook's late delivery and reconciliation's recovery of the same refund, at the
    same moment, in either order: the first holds the payment's lock until it commits, the
    other then finds the event recorded."""
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    refund = fake_stripe.refunded(invoice.stripe_session_id)
    delivery, recovery = stripe_delivery(fake_stripe, refund), lambda: stripe_event_recover(refund)

    if first == "webhook":
        answers = meeting(delivery, recovery)
        assert (answers["held"], answers["waiting"]) == ("processed", None)
    else:
        answers = meeting(recovery, delivery)
        assert (answers["held"].outcome, answers["waiting"]) == ("processed", "already_processed")

    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    reversed_entries = TokenTransaction.objects.filter(transaction_type="reversal")
    assert reversed_entries.count() == 1
    recorded = PaymentEvent.objects.get(event_id=refund["id"])
    assert (recorded.outcome, recorded.deliveries) == ("processed", 1)


def test_an_invoice_its_webhook_captures_while_reconciliation_asks_stripe_is_not_counted(
    monkeypatch, user, user_client, fake_stripe
):
    """Stripe answers reconciliation that the stale session was paid, and the session's
    webhook captures the invoice before reconciliation does. Before, the run counted the
    capture as its own: the operator read "Invoices captured from Stripe: 1" for a capture
    reconciliation did not make."""
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=2))
    completed = fake_stripe.complete(session)
    retrieve = stripe_gateway.checkout_session_retrieve
    webhook = []

    def retrieved_then_webhook(*, session_id):
        answer = retrieve(session_id=session_id)
        webhook.append(delivered(fake_stripe, completed))
        return answer

    monkeypatch.setattr(stripe_gateway, "checkout_session_retrieve", retrieved_then_webhook)
    report = reconcile.ReconcileReport(dry_run=False)

    reconcile.stale_stripe_sessions(
        report, older_than=timedelta(hours=1), expire_after=timedelta(hours=72)
    )

    assert webhook == ["processed"]
    assert (report.invoices_captured, report.needs_review, report.failed) == (0, [], [])
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert TokenAccount.objects.get(user=user).balance == 1000
    assert TokenTransaction.objects.filter(transaction_type="purchase").count() == 1


def test_a_session_the_customer_starts_while_the_sweep_asks_stripe_is_left_to_pay(
    monkeypatch, user, user_client, fake_stripe
):
    """The sweep reads an invoice whose session Stripe has expired; while it asks Stripe about
    that session, the customer clicks Pay again and gets a new one. Before, the sweep
    cancelled the invoice and expired the new session: the customer's open Stripe page was
    ended under them and the invoice could no longer be paid."""
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    invoice = checkout(user, bundles=[bundle]).invoice
    judged = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=2))
    assert delivered(fake_stripe, fake_stripe.expire(judged)) == "processed"
    retrieve = stripe_gateway.checkout_session_retrieve
    started = []

    def retrieved_then_paid_again(*, session_id):
        answer = retrieve(session_id=session_id)
        if session_id == judged and not started:
            paying = user_client.post(
                f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"}
            )
            started.append(paying.json()["session_id"])
        return answer

    monkeypatch.setattr(stripe_gateway, "checkout_session_retrieve", retrieved_then_paid_again)
    report = reconcile.ReconcileReport(dry_run=False)

    reconcile.stale_stripe_sessions(
        report, older_than=timedelta(hours=1), expire_after=timedelta(hours=72)
    )

    [new_session] = started
    assert new_session != judged
    assert (report.invoices_cancelled, report.stripe_errors, report.failed) == (0, [], [])
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"
    assert Invoice.objects.get(pk=invoice.pk).stripe_session_id == new_session
    assert fake_stripe.sessions[new_session]["status"] == "open"
    assert delivered(fake_stripe, fake_stripe.complete(new_session)) == "processed"
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert TokenAccount.objects.get(user=user).balance == 1000
