import json
from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import Invoice, PaymentEvent, Subscription
from billing.tests.stripe_webhook_helpers import balance, send, without_events
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_a_dispute_of_a_paid_invoice_needs_review_and_reconciliation_lists_it(
    api_client, user, order, session, fake_stripe
):
    """A chargeback takes the whole payment back at Stripe. The webhook recorded it `ignored`
    (a type not acted on), the invoice stayed paid with its tokens spendable, and
    reconciliation listed nothing: nobody here heard that the money had gone."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    event = fake_stripe.disputed(session)
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    assert (response.status_code, response.json()) == (
        200,
        {"received": True, "outcome": "needs_review"},
    )
    recorded = PaymentEvent.objects.get(event_id=event["id"])
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (recorded.outcome, recorded.invoice_id, recorded.payment_reference) == (
        "needs_review",
        invoice.pk,
        reference,
    )
    assert recorded.error == (
        f"The customer disputed 43.00 USD of {reference} (fraudulent), which paid invoice "
        f"{invoice.number}: Stripe has taken the money back until the dispute is decided. "
        "The invoice and its tokens are as they were; answer the dispute at Stripe and "
        "decide about the tokens."
    )
    assert without_events(database_state()) == before
    out = StringIO()
    call_command("reconcile_purchases", "--json", stdout=out)
    assert json.loads(out.getvalue())["needs_review"] == [
        f"stripe event {event['id']} (charge.dispute.created) for {invoice.number}: "
        f"{recorded.error}"
    ]


def test_a_lost_dispute_needs_review_naming_the_invoice(
    api_client, user, order, session, fake_stripe
):
    """The bank decided for the customer: the money is gone for good, while the invoice here
    stays paid and its tokens spendable. `charge.dispute.closed` was recorded `ignored` (a
    type not acted on), so a person who had settled the dispute's first event (answered it
    at Stripe, waiting for the bank) never heard how it ended."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    event = fake_stripe.dispute_closed(session, status="lost")
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    recorded = PaymentEvent.objects.get(event_id=event["id"])
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (response.json()["outcome"], recorded.outcome, recorded.invoice_id) == (
        "needs_review",
        "needs_review",
        invoice.pk,
    )
    assert recorded.error == (
        f"The customer's dispute of 43.00 USD of {reference} (fraudulent) is lost, and it paid "
        f"invoice {invoice.number}: the money stays with the customer. The invoice and its "
        "tokens are as they were; decide about the tokens."
    )
    assert without_events(database_state()) == before
    out = StringIO()
    call_command("reconcile_purchases", "--json", stdout=out)
    assert (
        f"stripe event {event['id']} (charge.dispute.closed) for {invoice.number}: {recorded.error}"
    ) in json.loads(out.getvalue())["needs_review"]


def test_a_won_dispute_is_recorded_for_whoever_looks_and_changes_nothing(
    api_client, user, order, session, fake_stripe
):
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    event = fake_stripe.dispute_closed(session, status="won")
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    recorded = PaymentEvent.objects.get(event_id=event["id"])
    assert (response.json()["outcome"], recorded.invoice_id) == ("processed", order.invoice.pk)
    assert recorded.error == (
        f"The customer's dispute of 43.00 USD of {reference} (fraudulent) is won: Stripe gives "
        "the money back. Nothing was changed."
    )
    assert without_events(database_state()) == before


@pytest.mark.parametrize("closed", [None, "lost"])
def test_staff_refund_of_a_disputed_payment_takes_the_tokens_back_here(
    api_client, staff_client, user, order, session, fake_stripe, closed
):
    """Stripe refuses to refund a disputed charge (400 `charge_disputed`), open or lost: the
    bank has the money. The staff refund was a 502 "nothing changed" on every try, so staff
    told by the dispute's needs_review to "decide about the tokens" could not take them back.
    The money is with the customer's bank, so the refund here goes ahead without Stripe."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    if closed:
        send(api_client, fake_stripe, fake_stripe.dispute_closed(session, status=closed))
    refunds_before = len(fake_stripe.refunds)

    response = staff_client.post(f"/api/v1/admin/invoices/{order.invoice.pk}/refund")

    assert (response.status_code, response.json().get("status")) == (200, "refunded")
    assert response.json()["token_purchases"][0]["tokens_reversed"] == 1000
    assert balance(user) == 0
    assert Subscription.objects.get(invoice=order.invoice).status == "cancelled"
    assert [request.path for request in fake_stripe.requests[-1:]] == ["/v1/refunds"]
    assert len(fake_stripe.refunds) == refunds_before


def test_a_dispute_won_after_the_refund_here_needs_review(
    api_client, staff_client, user, order, session, fake_stripe
):
    """Refunded here while disputed (Stripe refunded nothing), then the bank decides for us:
    the money comes back to us for an invoice refunded here, so a person must return it."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    staff_client.post(f"/api/v1/admin/invoices/{order.invoice.pk}/refund")
    event = fake_stripe.dispute_closed(session, status="won")

    response = send(api_client, fake_stripe, event)

    recorded = PaymentEvent.objects.get(event_id=event["id"])
    assert (response.json()["outcome"], recorded.invoice_id) == ("needs_review", order.invoice.pk)
    assert "Refund the payment at Stripe now" in recorded.error


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (4300, "usd", "43.00 USD"),
        (5, "eur", "0.05 EUR"),
        (500, "jpy", "500 JPY"),
        (50000, "vnd", "50000 VND"),
        (4300, "kwd", "4.300 KWD"),
        (1250, "BHD", "1.250 BHD"),
        ("4300", "usd", "4300 USD"),
        (None, None, "None"),
    ],
)
def test_a_dispute_names_its_amount_as_a_person_reads_it(amount, currency, shown):
    """Stripe counts in the currency's smallest unit: the message said "4300 USD" of a payment
    of 43.00, a hundred times over, while a zero-decimal currency's was right."""
    from billing.services.stripe_webhook.disputes import dispute_created

    handled = dispute_created({"amount": amount, "currency": currency, "reason": "fraudulent"})

    assert handled.error.startswith(f"The customer disputed {shown} of None (fraudulent)")
