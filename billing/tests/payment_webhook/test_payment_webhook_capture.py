import json
from decimal import Decimal

import pytest

from billing import services, signals
from billing.models import Invoice, PaymentEvent
from billing.services.reprocess import payment_event_mark_handled
from billing.tests.helpers import checkout, deliver, payment_body
from billing.tests.payment_webhook.helpers import balance, without_events
from billing.tests.reconcile_helpers import reconcile
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_signed_delivery_captures(api_client, user, invoice):
    response = deliver(api_client, payment_body(invoice))

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "invoice_id": str(invoice.pk),
        "subscription_activated": True,
        "tokens_credited": 1000,
        "addons_activated": 0,
    }
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert balance(user) == 1000
    event = PaymentEvent.objects.get()
    assert (event.event_id, event.outcome, event.signature_valid, event.invoice_id) == (
        "evt-1",
        "processed",
        True,
        invoice.pk,
    )


def test_tokens_credited_counts_the_plans_included_tokens(api_client, user):
    """The plan's included lot is credited by the same capture, and the receipt page counts
    it; the answer counted bundles only, so an integrator was told 0 tokens for a plan that
    granted 500."""
    plan_only = checkout(user, plan=PlanFactory(included_tokens=500)).invoice
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    both = checkout(user, plan=PlanFactory(included_tokens=200), bundles=[bundle]).invoice

    answers = [
        deliver(api_client, payment_body(plan_only, event_id="e1", payment_reference="p1")).json(),
        deliver(api_client, payment_body(both, event_id="e2", payment_reference="p2")).json(),
    ]

    assert [answer["tokens_credited"] for answer in answers] == [500, 1200]
    assert balance(user) == 1700


def test_a_replayed_event_is_already_processed_and_changes_nothing(api_client, user, invoice):
    body = payment_body(invoice)
    deliver(api_client, body)
    before = database_state()

    response = deliver(api_client, body)

    assert response.status_code == 200
    assert response.json()["status"] == "already_processed"
    assert without_events(database_state()) == without_events(before)
    assert PaymentEvent.objects.get().deliveries == 2
    assert balance(user) == 1000


def test_the_same_payment_under_another_event_id_is_already_processed(api_client, user, invoice):
    deliver(api_client, payment_body(invoice, event_id="evt-1"))

    response = deliver(api_client, payment_body(invoice, event_id="evt-2"))

    assert response.json()["status"] == "already_processed"
    assert balance(user) == 1000
    assert PaymentEvent.objects.get(event_id="evt-2").outcome == "already_processed"


def test_an_event_delivered_again_in_another_json_layout_is_already_processed(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice))
    relaid = json.dumps(
        {**json.loads(payment_body(invoice)), "amount": 34, "currency": "usd"}, indent=2
    ).encode()

    response = deliver(api_client, relaid)

    assert response.json()["status"] == "already_processed"
    assert PaymentEvent.objects.get().deliveries == 2


@pytest.mark.parametrize("event_id", [None, ""])
def test_deliveries_without_event_id_are_each_recorded_and_captured_once(
    api_client, user, invoice, event_id
):
    body = payment_body(invoice, event_id=event_id)

    first = deliver(api_client, body)
    second = deliver(api_client, body)

    assert [first.json()["status"], second.json()["status"]] == ["success", "already_processed"]
    assert PaymentEvent.objects.count() == 2
    assert balance(user) == 1000


def test_a_cancelled_invoice_is_409_and_a_person_is_told(api_client, invoice):
    """The provider took the money for an invoice we will not fulfil: the answer stays the
    contract's 409, and the delivery is flagged for a person to refund it, as Stripe's
    webhook flags such a payment; it was recorded `rejected`, which nothing counts, so the
    money was kept silently."""
    services.invoice_cancel(invoice_id=invoice.pk)
    before = without_events(database_state())

    response = deliver(api_client, payment_body(invoice))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert without_events(database_state()) == before
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.invoice_id) == ("needs_review", invoice.pk)
    assert event.error.startswith(
        f"Paid at the provider, not captured: Invoice {invoice.number} is cancelled"
    )
    report, code = reconcile()
    assert (code, report["payments_needing_review"]) == (0, 1)
    assert report["needs_review"][0].startswith(
        f"payment event evt-1 (payment.captured) for {invoice.number}"
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [({"amount": "34.01"}, "amount_mismatch"), ({"currency": "EUR"}, "currency_mismatch")],
)
def test_a_payment_of_another_amount_or_currency_is_400_and_a_person_is_told(
    api_client, user, invoice, overrides, code
):
    """The provider says it took a payment for the invoice, of another amount or currency: the
    answer stays the contract's 400 and the invoice pending, and the delivery is flagged for a
    person to refund it, as Stripe's webhook flags such a payment. It was recorded
    `rejected`, which nothing counts: the customer's money was kept and nothing delivered."""
    before = without_events(database_state())

    response = deliver(api_client, payment_body(invoice, **overrides))

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert without_events(database_state()) == before
    assert (Invoice.objects.get(pk=invoice.pk).status, balance(user)) == ("pending", 0)
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.invoice_id) == ("needs_review", invoice.pk)
    assert event.error.startswith("Paid at the provider, not captured: The payment is ")
    report, _ = reconcile()
    assert report["payments_needing_review"] == 1


@pytest.mark.parametrize("event_id", ["evt-1", ""])
def test_the_retries_of_a_payment_for_a_cancelled_invoice_are_one_event_for_a_person(
    api_client, staff_user, invoice, event_id
):
    """The provider retries the 409 (for days); with or without an event id the retries count
    in the first delivery's row, so a person is told once, and once they settled it
    (refunded the money at the provider, say) the retries leave it settled."""
    services.invoice_cancel(invoice_id=invoice.pk)
    body = payment_body(invoice, event_id=event_id)
    deliver(api_client, body)
    payment_event_mark_handled(
        event_id=PaymentEvent.objects.get().pk, staff_id=staff_user.pk, note="Refunded."
    )

    retries = [deliver(api_client, body).status_code for _ in range(2)]

    assert retries == [409, 409]
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.deliveries, event.handled_note) == ("needs_review", 3, "Refunded.")
    report, _ = reconcile()
    assert report["payments_needing_review"] == 0


def test_a_failing_receiver_is_500_recorded_and_the_retry_captures(user, invoice):
    from django.test import Client

    client = Client(raise_request_exception=False)

    def broken(sender, **kwargs):
        raise RuntimeError("downstream is down")

    signals.invoice_paid.connect(broken, dispatch_uid="test.broken")
    try:
        failed = deliver(client, payment_body(invoice))
    finally:
        signals.invoice_paid.disconnect(dispatch_uid="test.broken")

    assert failed.status_code == 500
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.event_id) == ("failed", "evt-1")
    assert "downstream is down" in event.error
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"

    retried = deliver(client, payment_body(invoice))

    assert retried.json()["status"] == "success"
    event.refresh_from_db()
    assert (event.outcome, event.deliveries) == ("processed", 2)
    assert balance(user) == 1000


def test_a_payment_reference_that_paid_another_invoice_is_409_and_recorded(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-a", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    body = payment_body(other, event_id="evt-b", payment_reference="pay-1")
    before = database_state()

    first = deliver(api_client, body)
    again = deliver(api_client, body)

    assert [first.status_code, again.status_code] == [409, 409]
    assert first.json() == {
        "error": "This payment reference already paid another invoice.",
        "code": "invalid_state",
    }
    assert without_events(database_state()) == without_events(before)
    event = PaymentEvent.objects.get(event_id="evt-b")
    assert (event.outcome, event.deliveries, event.invoice_id) == ("needs_review", 2, other.pk)
    assert event.error == (
        "Paid at the provider, not captured: This payment reference already paid another "
        "invoice. "
        "Refund it at the provider or settle it by hand."
    )
