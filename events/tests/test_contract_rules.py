"""Outgoing events and the staff webhook API as the contract has them: times in the API's
format, resend by the event id the API shows, idempotent creation, and 24 h of every secret
rotated out."""

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks import Webhook

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from events.dispatch.sending import event_body, signed_headers
from events.models import Event, WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/admin/webhook-endpoints"
# Contract, Conventions: "times | ISO 8601 in UTC, `2026-01-12T10:00:00Z`".
API_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def endpoint(staff_client, loopback):
    made = staff_client.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/hooks", "event_types": ["ping"]}
    )
    assert made.status_code == 201
    return made.json()


def test_a_retried_endpoint_creation_with_the_same_idempotency_key_creates_one(
    staff_client, loopback
):
    """Contract 1.1: "`Idempotency-Key` on every POST that creates something below"; "Same
    user + same key + same body within 24 h: the first response again, nothing done twice."
    The header is ignored: the retry makes a second endpoint, and every event goes out twice."""
    body = {"url": "http://127.0.0.1:9/hooks", "event_types": ["invoice.paid"]}

    first = staff_client.post(ENDPOINTS, body, HTTP_IDEMPOTENCY_KEY="endpoint-1")
    again = staff_client.post(ENDPOINTS, body, HTTP_IDEMPOTENCY_KEY="endpoint-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == {**first.json(), "secret": None}
    assert WebhookEndpoint.objects.count() == 1


def test_resend_takes_the_event_id_the_api_and_the_deliveries_show(staff_client, endpoint):
    """Contract 1.1: `POST /api/v1/admin/webhook-events/{id}/resend`; the event's id is what
    the body's `id`, the `webhook-id` header ("the event id"), `.../deliveries` (`event_id`) and
    `.../test` (`event_id`) all show: `evt_<hex>`. The route takes only the internal UUID,
    which no answer of the API contains, so resending the event a staff member sees is a 404."""
    pinged = staff_client.post(f"{ENDPOINTS}/{endpoint['id']}/test")
    event_id = pinged.json()["event_id"]

    resent = staff_client.post(f"/api/v1/admin/webhook-events/{event_id}/resend")

    assert event_id.startswith("evt_")
    assert resent.status_code == 202, resent.json()
    assert resent.json() == {"event_id": event_id, "deliveries": 1}


def test_the_secret_before_a_rotation_signs_for_24_hours_even_after_another_rotation(
    staff_client, endpoint
):
    """Contract 1.1: `POST .../{id}/rotate-secret` "(the old secret keeps signing too for
    24 h)". A second rotation within the 24 h (a retry of a rotation whose answer was lost,
    or a second staff member) drops the first old secret at once: a receiver still verifying
    with it rejects every delivery from then on."""
    url = f"{ENDPOINTS}/{endpoint['id']}"
    original = endpoint["secret"]
    staff_client.post(f"{url}/rotate-secret")
    staff_client.post(f"{url}/rotate-secret")
    event = Event.objects.create(type="ping", data={})
    body = event_body(event)

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        headers = signed_headers(WebhookEndpoint.objects.get(), event, body, timezone.now())
        Webhook(original).verify(body, headers)


def test_event_payload_times_are_iso_8601_utc_like_the_rest_of_the_api(user, settings):
    """Contract, Conventions: "times | ISO 8601 in UTC, `2026-01-12T10:00:00Z`"; events'
    `data` are JSON like every answer. events_emit writes `json.dumps(data, default=str)`, so
    a datetime in `data` (`paid_at`, `starts_at`, `expires_at`, `refunded_at`) goes out as
    Python's str(): `2026-12-06 16:32:47.123456+00:00`."""
    order = checkout(user, plan=PlanFactory(), bundles=[TokenBundleFactory()])
    capture(order.invoice)

    paid = json.loads(event_body(Event.objects.get(type="invoice.paid")))["data"]
    activated = json.loads(event_body(Event.objects.get(type="subscription.activated")))["data"]

    times = [paid["paid_at"], activated["starts_at"], activated["expires_at"]]
    assert all(API_TIME.fullmatch(moment) for moment in times), times
