"""An endpoint that answers 410 Gone says it wants no more webhooks (Standard Webhooks,
"Delivery success and failure"): it is turned off at once, its pending deliveries given up,
and staff read why; any other failure is still retried."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events import services
from events.dispatch.recording import BACKOFF, delivery_record
from events.dispatch.sending import Outcome
from events.models import Delivery, WebhookEndpoint

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
GONE = Outcome(410, 4, "HTTP 410")


@pytest.fixture(autouse=True)
def loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def endpoint_with_pings(path: str, count: int) -> tuple[WebhookEndpoint, list[Delivery]]:
    endpoint = services.endpoint_create(url=f"http://127.0.0.1:9/{path}", event_types=["ping"])
    for _ in range(count):
        services.endpoint_ping(endpoint_id=endpoint.pk)
    return endpoint, list(Delivery.objects.filter(endpoint=endpoint).order_by("pk"))


def test_a_410_turns_the_endpoint_off_and_gives_up_its_pending_deliveries(staff_client):
    endpoint, (answered, waiting) = endpoint_with_pings("gone", 2)
    _, (elsewhere,) = endpoint_with_pings("other", 1)

    delivery_record(answered.pk, GONE, now=NOW)

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_at) == (False, NOW)
    assert endpoint.disabled_reason.startswith("The endpoint answered 410 Gone")
    rows = Delivery.objects.in_bulk([answered.pk, waiting.pk, elsewhere.pk])
    assert [(rows[d.pk].status, rows[d.pk].last_error) for d in (answered, waiting)] == [
        ("failed", "HTTP 410"),
        ("failed", "The endpoint answered 410 Gone."),
    ]
    assert rows[elsewhere.pk].status == "pending"
    shown = staff_client.get(f"/api/v1/admin/webhook-endpoints/{endpoint.pk}").json()
    assert (shown["is_active"], shown["disabled_reason"]) == (False, endpoint.disabled_reason)


def test_a_404_is_still_retried():
    endpoint, (delivery,) = endpoint_with_pings("missing", 1)

    delivery_record(delivery.pk, Outcome(404, 4, "HTTP 404"), now=NOW)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("pending", NOW + BACKOFF[0])
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).is_active
