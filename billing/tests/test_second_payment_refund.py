"""A second payment taken through a Stripe tab left open, for an invoice another provider
paid, is flagged for review (by its webhook, or by reconcile_purchases when that was lost);
staff return it from the payment events' admin, which settles its events saying so. Before,
they had to find the payment in Stripe's dashboard and refund it there by hand."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import checkout, deliver, payment_body
from billing.tests.pay.helpers import pay, stripe_says
from billing.tests.reconcile_helpers import reconcile
from catalog.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db

EVENTS = "admin:billing_paymentevent_changelist"


def refund_at_stripe(client, events: list):
    data = {"action": "refund_at_stripe", ACTION_CHECKBOX_NAME: [e.pk for e in events]}
    return client.post(reverse(EVENTS), data, follow=True)


@pytest.fixture
def second_payment(user, user_client, api_client, fake_stripe, django_capture_on_commit_callbacks):
    """An invoice paid through the payment webhook while its Stripe tab took a payment too,
    whose webhook was lost: reconcile_purchases flags it."""
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("45.99"))]).invoice
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    reconcile()
    return invoice, completed


def test_staff_refund_a_second_payment_at_stripe_and_its_events_are_settled(
    staff_browser, api_client, fake_stripe, second_payment
):
    invoice, completed = second_payment
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    # Its webhook came late: the same payment, recorded as the one flagged already.
    assert stripe_says(api_client, fake_stripe, completed) == "already_processed"

    page = refund_at_stripe(staff_browser, [flagged])
    again = refund_at_stripe(staff_browser, [flagged])
    report, _ = reconcile()

    intent = completed["data"]["object"]["payment_intent"]
    assert [r["payment_intent"] for r in fake_stripe.refunds.values()] == [intent]
    assert "Refunded at Stripe" in page.content.decode()
    assert "settled" in again.content.decode()
    assert report["payments_needing_review"] == 0
    notes = PaymentEvent.objects.filter(provider="stripe", outcome="needs_review").values_list(
        "handled_note", flat=True
    )
    assert [note[:23] for note in notes] == ["Refunded at Stripe (re_"]
    paid = Invoice.objects.get(pk=invoice.pk)
    assert (paid.status, paid.provider) == ("paid", "payment")


def test_a_payment_that_paid_an_invoice_here_is_not_refunded_from_its_event(
    staff_browser, api_client, user, user_client, fake_stripe
):
    """A partial refund's or a dispute's event names a payment that paid an invoice: its
    refund is the invoice's, which takes back what it bought too."""
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("45.99"))]).invoice
    session = pay(user_client, invoice).json()["session_id"]
    stripe_says(api_client, fake_stripe, fake_stripe.complete(session))
    assert stripe_says(api_client, fake_stripe, fake_stripe.refunded(session, amount=100)) == (
        "needs_review"
    )
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")

    page = refund_at_stripe(staff_browser, [flagged])

    assert f"paid invoice {invoice.number}" in page.content.decode()
    assert fake_stripe.refunds == {}
    assert PaymentEvent.objects.get(pk=flagged.pk).handled_at is None
