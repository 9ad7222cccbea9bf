import json
from uuid import uuid4

import pytest

from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import deliver, payment_body
from billing.tests.payment_webhook.helpers import balance, without_events
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def refused_payloads(invoice) -> list[tuple[bytes, int, str]]:
    """Each with its own event id: a refused event's redelivery updates its first record."""
    return [
        (b"not json", 400, "validation_error"),
        (b"[1, 2]", 400, "validation_error"),
        (payment_body(invoice, invoice_id=None), 400, "validation_error"),
        (payment_body(invoice, invoice_id="nope"), 400, "validation_error"),
        (payment_body(invoice, payment_reference=None), 400, "validation_error"),
        (payment_body(invoice, currency="US"), 400, "validation_error"),
        (payment_body(invoice, amount="5.001"), 400, "validation_error"),
        (payment_body(invoice, amount="NaN"), 400, "validation_error"),
        (payment_body(invoice, amount=True), 400, "validation_error"),
        (payment_body(invoice, amount=None), 400, "validation_error"),
        # Beyond the 28 digits a decimal keeps: rounding to cents raised, answered 500.
        (payment_body(invoice, amount="1e30"), 400, "validation_error"),
        (payment_body(invoice, amount="123456789012345678901234567.5"), 400, "validation_error"),
        (
            json.dumps({**json.loads(payment_body(invoice)), "amount": 10**30}).encode(),
            400,
            "validation_error",
        ),
        (
            json.dumps({**json.loads(payment_body(invoice)), "amount": 34.001}).encode(),
            400,
            "validation_error",
        ),
        # The same key twice: a proxy and this service could read different amounts.
        (
            payment_body(invoice, amount="0.01")[:-1] + f', "amount": "{invoice.total}"}}'.encode(),
            400,
            "validation_error",
        ),
        # A lone surrogate (the JSON escape "\\ud800") cannot be stored: the record of the
        # delivery failed, answered 500 and kept nothing.
        (payment_body(invoice, payment_reference="pay-\ud800"), 400, "validation_error"),
        (payment_body(invoice, event_id="evt-\udfff"), 400, "validation_error"),
        (payment_body(invoice, event_id="e1", invoice_id=str(uuid4())), 404, "not_found"),
    ]


def test_refused_payloads_are_recorded_and_change_nothing(api_client, user, invoice):
    for body, status, code in refused_payloads(invoice):
        events = PaymentEvent.objects.count()
        before = database_state()

        response = deliver(api_client, body)

        assert (response.status_code, response.json()["code"]) == (status, code), body
        assert without_events(database_state()) == without_events(before), body
        assert PaymentEvent.objects.count() == events + 1
        event = PaymentEvent.objects.order_by("-received_at").first()
        assert (event.signature_valid, event.outcome) == (True, "rejected")
        assert event.error
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"
    assert balance(user) == 0


@pytest.mark.parametrize(
    "amount", [b'"34.000"', b'"3.4e1"', b'" 34.00"', b'"+34.00"', b'"3_4.00"', b"34.000"]
)
def test_an_amount_that_is_not_plain_money_is_400_and_captures_nothing(
    api_client, user, invoice, amount
):
    """Money is a JSON number or a string of plain digits, with at most the currency's places
    (docs/api.md, Numbers); these equal the invoice's 34.00 in value and are still refused."""
    body = payment_body(invoice).replace(b'"amount": "34.00"', b'"amount": ' + amount)
    before = without_events(database_state())

    response = deliver(api_client, body)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["amount"]
    assert without_events(database_state()) == before
    assert PaymentEvent.objects.get().outcome == "rejected"


def test_a_body_missing_several_fields_names_each_of_them(api_client, user, invoice):
    """A provider's integrator corrects every field in one go: the 400 names all the fields
    refused, as every other endpoint's does (docs/api.md, Errors), not the first one only."""
    body = json.dumps({"invoice_id": str(invoice.pk), "amount": "5.001"}).encode()
    before = without_events(database_state())

    response = deliver(api_client, body)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["payment_reference", "amount", "currency"]
    assert response.json()["error"] == "Invalid input in: payment_reference, amount, currency."
    assert without_events(database_state()) == before
    event = PaymentEvent.objects.get()
    assert event.outcome == "rejected"
    assert [part.split(": ")[0] for part in event.error.split("; ")] == list(
        response.json()["fields"]
    )


def test_an_amount_as_a_json_number_is_accepted(api_client, invoice):
    body = json.dumps({**json.loads(payment_body(invoice)), "amount": 34.0}).encode()

    assert deliver(api_client, body).status_code == 200


def test_a_refused_event_delivered_again_updates_its_record(api_client, invoice):
    body = payment_body(invoice, invoice_id=str(uuid4()))
    deliver(api_client, body)

    again = deliver(api_client, body)

    assert again.json()["code"] == "not_found"
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.deliveries) == ("rejected", 2)
