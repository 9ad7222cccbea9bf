import itertools
import json
from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import AddOnSubscription, Invoice, PaymentEvent, Subscription
from billing.tests.stripe_webhook_helpers import balance, send, without_events
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_a_refund_after_the_capture_refunds(api_client, user, order, session, fake_stripe):
    send(api_client, fake_stripe, fake_stripe.complete(session))

    response = send(api_client, fake_stripe, fake_stripe.refunded(session))

    assert response.json()["outcome"] == "processed"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "refunded"
    assert balance(user) == 0


def test_a_refund_before_its_capture_is_held_then_applied(
    api_client, user, order, session, fake_stripe
):
    refund = fake_stripe.refunded(session)
    completed = fake_stripe.complete(session)
    refund["data"]["object"]["payment_intent"] = completed["data"]["object"]["payment_intent"]

    held = send(api_client, fake_stripe, refund)
    captured = send(api_client, fake_stripe, completed)

    assert held.json()["outcome"] == "held"
    assert captured.json()["outcome"] == "processed"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "refunded"
    assert PaymentEvent.objects.get(event_id=refund["id"]).outcome == "processed"
    assert balance(user) == 0


def test_a_partial_refund_needs_review(api_client, user, order, session, fake_stripe):
    send(api_client, fake_stripe, fake_stripe.complete(session))

    response = send(api_client, fake_stripe, fake_stripe.refunded(session, amount=500))

    assert response.json()["outcome"] == "needs_review"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "paid"
    assert balance(user) == 1000


def test_a_partial_refund_names_and_links_the_invoice_it_paid(
    api_client, user, order, session, fake_stripe
):
    """A partial refund made in Stripe's dashboard was flagged without its invoice: the
    event's page and the payment events' list showed none, and the note said nothing of
    which invoice kept its tokens or what to do. It is linked and named now, as a
    dispute's event is."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    before = database_state()

    event = fake_stripe.refunded(session, amount=500)
    send(api_client, fake_stripe, event)

    flagged = PaymentEvent.objects.get(event_id=event["id"])
    assert (flagged.outcome, flagged.invoice_id) == ("needs_review", order.invoice.pk)
    assert flagged.error == (
        "Partly refunded (5.00 USD of 43.00 USD) at Stripe; only whole refunds are applied "
        f"here, and invoice {order.invoice.number}, which it paid, is paid and its tokens are "
        "as they were: refund the invoice to return the rest and take its tokens back, or "
        "settle it by hand."
    )
    assert without_events(database_state()) == without_events(before)


def final_state(order, user) -> tuple:
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    return (
        invoice.status,
        Subscription.objects.get(invoice=invoice).status,
        tuple(AddOnSubscription.objects.filter(invoice=invoice).values_list("status", flat=True)),
        tuple(invoice.token_purchases.values_list("status", "tokens_reversed")),
        balance(user),
    )


@pytest.mark.parametrize(
    "order_of_events",
    list(itertools.permutations(["completed", "expired", "refunded"])),
    ids="-".join,
)
def test_every_order_of_completed_expired_refunded_ends_in_the_same_state(
    api_client, user, order, session, fake_stripe, order_of_events
):
    completed = fake_stripe.complete(session)
    events = {
        "completed": completed,
        "expired": fake_stripe.expire(session),
        "refunded": fake_stripe.refunded(session),
    }

    answers = [send(api_client, fake_stripe, events[name]).status_code for name in order_of_events]

    assert answers == [200, 200, 200]
    assert final_state(order, user) == (
        "refunded",
        "cancelled",
        ("cancelled",),
        (("refunded", 1000),),
        0,
    )


def test_a_refund_stripe_could_not_make_needs_review(
    api_client, staff_client, user, order, session, fake_stripe
):
    """The bank refused the refund (a closed card): the money came back to us, while the
    invoice here was refunded and its tokens taken back, so the customer has neither. The
    event was recorded ignored and reconciliation looks at paid invoices only: nobody was
    told."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    assert staff_client.post(f"/api/v1/admin/invoices/{order.invoice.pk}/refund").status_code == 200
    event = fake_stripe.refund_failed(session)
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    assert response.json() == {"received": True, "outcome": "needs_review"}
    recorded = PaymentEvent.objects.get(event_id=event["id"])
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (recorded.outcome, recorded.invoice_id, recorded.payment_reference) == (
        "needs_review",
        invoice.pk,
        reference,
    )
    assert recorded.error == (
        f"Stripe could not refund 43.00 USD of {reference} (expired_or_canceled_card): the "
        f"money is back with us, and invoice {invoice.number}, which it paid, is refunded. "
        "Return the money another way, or settle the invoice by hand."
    )
    assert without_events(database_state()) == before
    out = StringIO()
    call_command("reconcile_purchases", "--json", stdout=out)
    assert json.loads(out.getvalue())["needs_review"] == [
        f"stripe event {event['id']} (charge.refund.updated) for {invoice.number}: {recorded.error}"
    ]


def test_the_banks_refusal_of_one_refund_told_by_two_event_types_is_flagged_once(
    api_client, staff_client, user, order, session, fake_stripe
):
    """Stripe tells of a failed card refund both as `charge.refund.updated` and (API versions
    from 2024-10-28) as `refund.failed`, two events of the same refund: each was flagged, so
    a person was asked twice to return the same money another way."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    assert staff_client.post(f"/api/v1/admin/invoices/{order.invoice.pk}/refund").status_code == 200
    updated = fake_stripe.refund_failed(session)
    failed = fake_stripe.event("refund.failed", updated["data"]["object"])

    outcomes = [send(api_client, fake_stripe, e).json()["outcome"] for e in (updated, failed)]

    assert outcomes == ["needs_review", "already_processed"]
    out = StringIO()
    call_command("reconcile_purchases", "--json", stdout=out)
    assert json.loads(out.getvalue())["payments_needing_review"] == 1
