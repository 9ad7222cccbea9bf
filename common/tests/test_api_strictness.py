"""The API checks requests no more leniently than its OpenAPI schema describes them, and answers
JSON for what is too big: what a schema fuzzer (make fuzz) relies on."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from billing.models import PaymentEvent
from billing.tests.helpers import checkout, deliver, payment_body
from catalog.tests.factories import TokenBundleFactory
from common.middleware import MAX_HEADER_COUNT, MAX_HEADER_LENGTH, MAX_URL_LENGTH
from common.tests.helpers import database_state
from conftest import client_for
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db

CONSUME = "/api/v1/user/tokens/consume"


def test_an_over_long_url_is_a_json_414(api_client):
    response = api_client.get("/api/v1/token-bundles", {"q": "x" * MAX_URL_LENGTH})

    assert response.status_code == 414
    assert response.json() == {
        "error": f"The URL is longer than {MAX_URL_LENGTH} characters.",
        "code": "too_long",
    }


def test_a_url_at_the_limit_is_served(api_client):
    path = "/api/v1/token-bundles?q="

    response = api_client.get(path + "x" * (MAX_URL_LENGTH - len(path)))

    assert response.status_code == 200


def test_an_over_long_header_is_a_json_431(api_client):
    response = api_client.get("/api/v1/token-bundles", HTTP_X_NOTE="x" * (MAX_HEADER_LENGTH + 1))

    assert response.status_code == 431
    assert response.json()["code"] == "headers_too_large"


def test_too_many_headers_are_a_json_431(api_client):
    headers = {f"HTTP_X_NOTE_{index}": "x" for index in range(MAX_HEADER_COUNT + 1)}

    response = api_client.get("/api/v1/token-bundles", **headers)

    assert response.status_code == 431
    assert response.json()["error"] == f"More than {MAX_HEADER_COUNT} request headers."


@pytest.mark.parametrize("key", ["two words", "caf\u00e9", "tab\tinside"])
def test_an_idempotency_key_must_be_visible_ascii(user_client, user, key):
    fund(user, 10)
    before = database_state()

    response = user_client.post(CONSUME, {"amount": 1}, HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "Idempotency-Key": ["Only visible ASCII characters, without spaces."]
    }
    assert database_state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 1, "reference": 0}, "reference"),
        ({"amount": 1, "description": 1.5}, "description"),
        ({"amount": 1, "description": ["x"]}, "description"),
    ],
)
def test_text_fields_take_json_strings_only(user_client, user, body, field):
    fund(user, 10)
    before = database_state()

    response = user_client.post(CONSUME, body, HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 400
    assert response.json()["fields"] == {field: ["Must be a string."]}
    assert database_state() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/auth/register", {"email": "n@example.com", "password": 123456789.5}, "password"),
        ("/api/v1/auth/login", {"email": "n@example.com", "password": 12345678}, "password"),
        ("/api/v1/auth/refresh", {"refresh": 5}, "refresh"),
    ],
)
def test_auth_text_fields_take_json_strings_only(api_client, path, body, field):
    before = database_state()

    response = api_client.post(path, body)

    assert response.status_code == 400
    assert response.json()["fields"] == {field: ["Must be a string."]}
    assert database_state() == before


@pytest.mark.parametrize(
    "bundle_id", ["0" * 32, "urn:uuid:" + "0" * 32, 5, "{3f2b8a1e-5c4d-4e6f-8a9b-0c1d2e3f4a5b}"]
)
def test_ids_take_the_usual_uuid_spelling_only(user_client, bundle_id):
    before = database_state()

    response = user_client.post("/api/v1/user/checkout", {"token_bundle_ids": [bundle_id]})

    assert response.status_code == 400
    assert response.json()["fields"] == {"token_bundle_ids": ["Item 0: Must be a UUID string."]}
    assert database_state() == before


def test_an_uppercase_uuid_is_still_a_uuid(user_client, user):
    bundle = TokenBundleFactory()

    response = user_client.post(
        "/api/v1/user/checkout", {"token_bundle_ids": [str(bundle.pk).upper()]}
    )

    assert response.status_code == 201


def test_mark_paid_takes_a_string_reference(staff_client, user):
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    before = database_state()

    response = staff_client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": 42}
    )

    assert response.status_code == 400
    assert database_state() == before


@pytest.mark.parametrize("path", ["/api/v1/webhooks/payment", "/api/v1/webhooks/stripe"])
def test_a_webhook_body_with_nul_is_refused_and_recorded_not_a_500(api_client, path):
    response = api_client.generic(
        "POST", path, b'{"a": "\x00"}\x00', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert PaymentEvent.objects.get().payload == '{"a": "\ufffd"}\ufffd'


def test_a_signature_timestamp_of_other_digits_is_refused_not_a_500(api_client):
    response = api_client.post(
        "/api/v1/webhooks/payment", {}, HTTP_X_PAYMENT_SIGNATURE="t=\u00b2,v1=ab"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"


def test_a_cursor_of_other_digits_is_refused_not_a_500(user_client):
    cursor = base64.urlsafe_b64encode("n:\u00b2".encode()).decode()

    response = user_client.get("/api/v1/user/tokens/transactions", {"cursor": cursor})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["cursor"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/user/invoices/{invoice}/pay", '{"provider": "\\ud800"}', "provider"),
        (
            "/api/v1/admin/plans",
            '{"name": "p", "price": 1, "billing_period": "\\ud800"}',
            "billing_period",
        ),
        ("{grants}", '{"amount": 1, "reason": "r", "category": "\\udfff"}', "category"),
        (
            "/api/v1/admin/webhook-endpoints",
            '{"url": "https://example.com/", "event_types": ["\\ud800"]}',
            "event_types",
        ),
    ],
)
def test_a_lone_surrogate_a_refusal_quotes_back_is_400_not_500(
    monkeypatch, staff_client, user, path, body, field
):
    """A choice field's refusal quotes the value sent (`"x" is not a valid choice.`); a lone
    surrogate (`"\\ud800"`, valid JSON) quoted so could not be encoded as UTF-8: 500."""
    # The endpoint's URL is checked beside its refused event types, its host name resolved:
    # as the internet has it, with no traffic leaving the machine.
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: ["93.184.215.14"])
    invoice = checkout(user, bundles=[TokenBundleFactory()]).invoice
    path = path.replace("{invoice}", str(invoice.pk))
    path = path.replace("{grants}", f"/api/v1/admin/users/{user.pk}/tokens/grants")
    client = staff_client if "admin" in path else client_for(user)
    before = database_state()

    response = client.generic("POST", path, body, content_type="application/json")

    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["fields"])) == (
        "validation_error",
        [field],
    )
    assert "\\ud" in response.json()["fields"][field][0]
    assert database_state() == before


def test_a_signed_delivery_naming_a_lone_surrogate_key_twice_is_400_and_recorded(api_client, user):
    invoice = checkout(user, bundles=[TokenBundleFactory()]).invoice
    body = payment_body(invoice)[:-1] + b', "\\ud800": 1, "\\ud800": 2}'

    response = deliver(api_client, body)

    assert response.status_code == 400
    assert response.json()["fields"] == {"\\ud800": ["Send this field once."]}
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.error) == ("rejected", "\\ud800: Send this field once.")


def test_a_signed_delivery_with_nul_in_its_ids_is_400_not_a_500(api_client, user):
    invoice = checkout(user, bundles=[TokenBundleFactory()]).invoice

    response = deliver(api_client, payment_body(invoice, payment_reference="pay\x00"))

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["payment_reference"]
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.error) == (
        "rejected",
        "payment_reference: Must be 1 to 255 characters, without NUL or lone surrogates.",
    )


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        (CONSUME, '{"amount": 1, "amount": 1000}', "amount"),
        (
            "/api/v1/user/checkout",
            '{"token_bundle_ids": [], "token_bundle_ids": ["{bundle}"]}',
            "token_bundle_ids",
        ),
        ("{adjust}", '{"amount": 1, "reason": "x", "amount": -1}', "amount"),
        ("{adjust}", '{"amount": 1, "reason": {"a": 1, "a": 2}}', "a"),
        # A lone surrogate is valid JSON but no UTF-8: named by its escape, it was a 500.
        (CONSUME, '{"amount": 1, "\\ud800": 1, "\\ud800": 2}', "\\ud800"),
        ("/api/v1/auth/login", '{"email": "a@b.co", "\\udfff": 1, "\\udfff": 1}', "\\udfff"),
    ],
)
def test_a_key_sent_twice_in_a_body_is_refused_naming_it(staff_client, user, path, body, key):
    """`{"amount": 1, "amount": 1000}` took the last value silently, while a proxy in front of
    the service may act on the first: the two would disagree on what was asked."""
    fund(user, 10)
    path = path.replace("{adjust}", f"/api/v1/admin/users/{user.pk}/tokens/adjust")
    body = body.replace("{bundle}", str(TokenBundleFactory().pk))
    client = staff_client if "admin" in path else client_for(user)
    before = database_state()

    response = client.generic(
        "POST", path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="dup-1"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": f"Invalid input in: {key}.",
        "code": "validation_error",
        "fields": {key: ["Send this field once."]},
    }
    assert database_state() == before
