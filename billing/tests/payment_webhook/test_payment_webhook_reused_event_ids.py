from decimal import Decimal

import pytest

from billing.models import Invoice, PaymentEvent
from billing.services.reprocess import payment_event_reprocess
from billing.tests.helpers import checkout, deliver, payment_body
from billing.tests.payment_webhook.helpers import balance, without_events
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_an_event_id_reused_for_another_payment_is_422_recorded_for_review_and_pays_nothing(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    body = payment_body(other, event_id="evt-1", payment_reference="pay-2")
    first = PaymentEvent.objects.values().get(event_id="evt-1")
    before = database_state()

    response = deliver(api_client, body)

    assert response.status_code == 422
    assert response.json() == {
        "error": (
            "This event_id was already used for another payment; this delivery was recorded "
            "for a person to review and nothing was captured."
        ),
        "code": "event_id_reused",
    }
    assert without_events(database_state()) == without_events(before)
    assert Invoice.objects.get(pk=other.pk).status == "pending"
    assert balance(user) == 1000
    assert PaymentEvent.objects.values().get(event_id="evt-1") == first
    review = PaymentEvent.objects.get(outcome="needs_review")
    assert (review.event_id, review.payload, review.invoice_id, review.payment_reference) == (
        "",
        body.decode(),
        other.pk,
        "pay-2",
    )
    assert "evt-1" in review.error


def test_retries_of_a_reused_event_id_s_delivery_count_in_its_one_review_row(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    body = payment_body(other, event_id="evt-1", payment_reference="pay-2")

    statuses = [deliver(api_client, body).status_code for _ in range(3)]

    assert statuses == [422, 422, 422]
    review = PaymentEvent.objects.get(outcome="needs_review")
    assert review.deliveries == 3
    assert PaymentEvent.objects.get(event_id="evt-1").deliveries == 1
    assert Invoice.objects.get(pk=other.pk).status == "pending"


def test_staff_re_processing_a_reused_event_id_s_delivery_captures_its_invoice(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(token_amount=10)]).invoice
    deliver(api_client, payment_body(other, event_id="evt-1", payment_reference="pay-2"))
    review = PaymentEvent.objects.get(outcome="needs_review")

    outcome = payment_event_reprocess(event_id=review.pk)

    assert outcome == "processed"
    assert Invoice.objects.get(pk=other.pk).status == "paid"
    assert balance(user) == 1010


def test_a_retry_of_a_reused_event_id_s_delivery_after_staff_captured_it_is_no_new_review(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(token_amount=10)]).invoice
    body = payment_body(other, event_id="evt-1", payment_reference="pay-2")
    deliver(api_client, body)
    review = PaymentEvent.objects.get(outcome="needs_review")
    payment_event_reprocess(event_id=review.pk)

    response = deliver(api_client, body)

    assert response.status_code == 422
    assert PaymentEvent.objects.filter(outcome="needs_review").count() == 0
    assert PaymentEvent.objects.get(pk=review.pk).deliveries == 2
    assert balance(user) == 1010
