"""A refund or dispute whose Stripe webhook was lost (Stripe gives up after about three days of
retries: a wrong signing secret, an outage) was never noticed. Reconciliation asked Stripe only
about invoices paid in the last 24 h, while refunds come days or weeks after the payment, and
it never asked about disputes at all: the invoice stayed paid with its tokens spendable, the
money gone, and the run exited 0 listing nothing. It now lists the refund and dispute events
Stripe sent and handles each one not recorded here as its delivery would have."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from billing import signals
from billing.models import Invoice, PaymentEvent
from billing.tests.reconcile_helpers import delivered, paid_with_stripe, reconcile
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from tokens.models import TokenAccount, TokenTransaction

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def bundle():
    return TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))


def sent_ago(age: timedelta, make):
    """What Stripe made `age` ago (`make` calls the fake, which dates its events by the clock)."""
    with time_machine.travel(timezone.now() - age, tick=False):
        return make()


def paid_days_ago(user, user_client, bundle, fake_stripe, days: int = 2) -> Invoice:
    """An invoice paid through Stripe `days` ago: past the window that asks Stripe about it."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    Invoice.objects.filter(pk=invoice.pk).update(paid_at=timezone.now() - timedelta(days=days))
    return Invoice.objects.get(pk=invoice.pk)


def reversals() -> int:
    return TokenTransaction.objects.filter(transaction_type="reversal").count()


def test_a_refund_days_after_the_payment_whose_webhook_was_lost_is_applied_once(
    user, user_client, bundle, fake_stripe
):
    invoice = paid_days_ago(user, user_client, bundle, fake_stripe)
    lost = sent_ago(timedelta(days=1), lambda: fake_stripe.refunded(invoice.stripe_session_id))

    first, code = reconcile()

    assert (code, Invoice.objects.get(pk=invoice.pk).status) == (0, "refunded")
    assert TokenAccount.objects.get(user=user).balance == 0
    assert reversals() == 1
    assert (first["stripe_events_recovered"], first["invoices_refunded"]) == (1, 1)
    assert first["paid_invoices_verified"] == 0
    recorded = PaymentEvent.objects.get(event_id=lost["id"])
    assert (recorded.outcome, recorded.deliveries, recorded.invoice_id) == (
        "processed",
        0,
        invoice.pk,
    )
    # Stripe's late retry, and the next run, find it done.
    assert delivered(fake_stripe, lost) == "already_processed"
    second, _ = reconcile()
    assert (second["stripe_events_recovered"], second["invoices_refunded"]) == (0, 0)
    assert reversals() == 1
    assert PaymentEvent.objects.get(event_id=lost["id"]).deliveries == 1


def test_a_refund_whose_webhook_came_first_is_not_applied_again(
    user, user_client, bundle, fake_stripe
):
    invoice = paid_days_ago(user, user_client, bundle, fake_stripe)
    refund = sent_ago(timedelta(days=1), lambda: fake_stripe.refunded(invoice.stripe_session_id))
    assert delivered(fake_stripe, refund) == "processed"
    before = database_state()

    report, code = reconcile()

    assert (code, report["stripe_events_checked"], report["stripe_events_recovered"]) == (0, 1, 0)
    assert report["invoices_refunded"] == 0
    assert database_state() == before
    assert reversals() == 1


def test_a_refund_whose_every_delivery_failed_is_applied(user, user_client, bundle, fake_stripe):
    """Each delivery answered 500 (a receiver of the refund was down) until Stripe gave up:
    the event's row says `failed`, and nothing else was changed."""
    invoice = paid_days_ago(user, user_client, bundle, fake_stripe)
    refund = sent_ago(timedelta(days=1), lambda: fake_stripe.refunded(invoice.stripe_session_id))

    def broken(sender, **kwargs):
        raise RuntimeError("a receiver is down")

    body, header = fake_stripe.signed(refund)
    signals.invoice_refunded.connect(broken, dispatch_uid="test.broken")
    try:
        answered = Client(raise_request_exception=False).post(
            "/api/v1/webhooks/stripe",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
    finally:
        signals.invoice_refunded.disconnect(dispatch_uid="test.broken")
    assert answered.status_code == 500
    assert PaymentEvent.objects.get(event_id=refund["id"]).outcome == "failed"

    report, code = reconcile()

    assert (code, report["stripe_events_recovered"]) == (0, 1)
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    assert PaymentEvent.objects.get(event_id=refund["id"]).outcome == "processed"
    assert reversals() == 1


def test_a_dispute_whose_webhooks_were_lost_is_listed_naming_the_invoice(
    user, user_client, bundle, fake_stripe
):
    """Even for an invoice paid within the window: its PaymentIntent says nothing of the
    dispute, so asking about the payment found nothing."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    session = invoice.stripe_session_id
    opened = sent_ago(timedelta(days=1), lambda: fake_stripe.disputed(session))
    lost = sent_ago(timedelta(hours=1), lambda: fake_stripe.dispute_closed(session))
    reference = invoice.payment_reference

    report, code = reconcile()

    assert code == 0
    assert report["needs_review"] == [
        f"stripe event {lost['id']} (charge.dispute.closed) for {invoice.number}: The "
        f"customer's dispute of 5.00 USD of {reference} (fraudulent) is lost, and it paid "
        f"invoice {invoice.number}: the money stays with the customer. The invoice and its "
        "tokens are as they were; decide about the tokens.",
        f"stripe event {opened['id']} (charge.dispute.created) for {invoice.number}: The "
        f"customer disputed 5.00 USD of {reference} (fraudulent), which paid invoice "
        f"{invoice.number}: Stripe has taken the money back until the dispute is decided. "
        "The invoice and its tokens are as they were; answer the dispute at Stripe and "
        "decide about the tokens.",
    ]
    assert (report["stripe_events_recovered"], report["payments_needing_review"]) == (2, 2)
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert delivered(fake_stripe, opened) == "needs_review"
    assert PaymentEvent.objects.filter(event_type__startswith="charge.dispute").count() == 2


def test_a_dry_run_changes_nothing_and_counts_the_lost_events(
    user, user_client, bundle, fake_stripe
):
    invoice = paid_days_ago(user, user_client, bundle, fake_stripe)
    sent_ago(timedelta(days=1), lambda: fake_stripe.refunded(invoice.stripe_session_id))
    before = database_state()

    report, code = reconcile("--dry-run")

    assert (code, report["stripe_events_checked"], report["stripe_events_recovered"]) == (0, 1, 1)
    assert database_state() == before


def test_events_too_young_or_past_the_window_are_left(user, user_client, bundle, fake_stripe):
    """The youngest are left to their webhook, most likely on its way; `--events-within`
    (7 days) bounds how far back Stripe is asked, within the 30 days it keeps them."""
    old = paid_days_ago(user, user_client, bundle, fake_stripe, days=12)
    sent_ago(timedelta(days=10), lambda: fake_stripe.refunded(old.stripe_session_id))
    young = paid_days_ago(user, user_client, bundle, fake_stripe)
    sent_ago(timedelta(minutes=2), lambda: fake_stripe.refunded(young.stripe_session_id))

    default, _ = reconcile()
    wider, _ = reconcile("--events-within", "11d")

    assert (default["stripe_events_checked"], default["stripe_events_recovered"]) == (0, 0)
    assert (wider["stripe_events_checked"], wider["stripe_events_recovered"]) == (1, 1)
    statuses = [Invoice.objects.get(pk=invoice.pk).status for invoice in (old, young)]
    assert statuses == ["refunded", "paid"]


def test_every_page_of_events_is_read(user, user_client, bundle, fake_stripe):
    """Stripe answers 100 events a page at most, newest first; the lost refund is the oldest."""
    invoice = paid_days_ago(user, user_client, bundle, fake_stripe)
    lost = sent_ago(timedelta(days=1), lambda: fake_stripe.refunded(invoice.stripe_session_id))
    for number in range(120):
        update = {"id": f"re_{number}", "object": "refund", "status": "succeeded"}
        sent_ago(timedelta(hours=2), lambda u=update: fake_stripe.event("charge.refund.updated", u))

    report, code = reconcile()

    assert (code, report["stripe_events_checked"], report["stripe_events_recovered"]) == (
        0,
        121,
        121,
    )
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    assert PaymentEvent.objects.get(event_id=lost["id"]).outcome == "processed"
    pages = [asked.params for asked in fake_stripe.requests if asked.path == "/v1/events"]
    assert [(page["limit"], "starting_after" in page) for page in pages] == [
        ("100", False),
        ("100", True),
    ]
    assert pages[0]["types"] == [
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
        "charge.refund.updated",
        "refund.failed",
    ]
