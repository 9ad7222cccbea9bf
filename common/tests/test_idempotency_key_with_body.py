"""A request whose `Idempotency-Key` is refused and whose body is refused too is told both at
once (docs/api.md, Errors: every refused field is named), and nothing changes."""

from __future__ import annotations

import pytest

from common.tests.helpers import database_state
from events.models import WebhookEndpoint
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/user/tokens/consume", {"amount": 0}, "amount"),
        ("/api/v1/user/usage", {"amount": 1, "feature": ""}, "feature"),
        ("/api/v1/user/holds", {"amount": 1, "ttl_seconds": 0}, "ttl_seconds"),
    ],
)
def test_a_missing_key_and_a_bad_body_are_named_together(user_client, user, path, body, field):
    fund(user, 10)
    before = database_state()

    response = user_client.post(path, body)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["Idempotency-Key", field]
    assert response.json()["error"] == f"Invalid input in: Idempotency-Key, {field}."
    assert database_state() == before


def test_a_bad_optional_key_and_a_bad_body_are_named_together(user_client, user):
    before = database_state()

    response = user_client.post(
        "/api/v1/user/checkout", {"token_bundle_ids": "x"}, HTTP_IDEMPOTENCY_KEY="two words"
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["Idempotency-Key", "token_bundle_ids"]
    assert database_state() == before


def test_a_missing_key_and_a_body_that_is_not_json_are_named_together(user_client, user):
    fund(user, 10)
    before = database_state()

    response = user_client.post(
        "/api/v1/user/tokens/consume", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["Idempotency-Key", "non_field_errors"]
    assert database_state() == before


def test_a_missing_key_with_a_good_body_names_the_key_alone(user_client, user):
    fund(user, 10)

    response = user_client.post("/api/v1/user/tokens/consume", {"amount": 1})

    assert response.json()["fields"] == {"Idempotency-Key": ["This header is required."]}


def test_a_bad_key_and_a_webhook_url_too_long_are_named_together(staff_client):
    before = database_state()

    response = staff_client.post(
        "/api/v1/admin/webhook-endpoints",
        {"url": "https://example.com/" + "a" * 2000, "event_types": ["ping"]},
        HTTP_IDEMPOTENCY_KEY="two words",
    )

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert list(response.json()["fields"]) == ["Idempotency-Key", "url"]
    assert database_state() == before
    assert not WebhookEndpoint.objects.exists()
