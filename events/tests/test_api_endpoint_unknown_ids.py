"""A test ping to an endpoint that does not exist is a 404 that keeps nothing: its
`Idempotency-Key` stays free for the right endpoint (docs/api.md, Idempotency)."""

import uuid

import pytest

from common.tests.helpers import database_state
from events.models import Event
from events.tests.api_helpers import ENDPOINTS

pytestmark = pytest.mark.django_db


def test_a_ping_to_an_unknown_endpoint_keeps_its_key_free(staff_client, loopback):
    made = staff_client.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/hook", "event_types": ["ping"]}, format="json"
    ).json()
    before = database_state()

    typo = staff_client.post(f"{ENDPOINTS}/{uuid.uuid4()}/test", HTTP_IDEMPOTENCY_KEY="ping")
    assert (typo.status_code, typo.json()["code"]) == (404, "not_found")
    assert database_state() == before

    corrected = staff_client.post(f"{ENDPOINTS}/{made['id']}/test", HTTP_IDEMPOTENCY_KEY="ping")
    assert corrected.status_code == 202, corrected.json()
    assert Event.objects.filter(type="ping", data__endpoint_id=made["id"]).count() == 1
