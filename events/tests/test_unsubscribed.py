"""An endpoint whose event types change gets only the types it now subscribes to: its
pending deliveries of the others are given up, and a resend does not bring them back. A test
ping is addressed to the endpoint itself and goes whatever its types."""

from __future__ import annotations

import pytest
from django.db import transaction

from events import services
from events.models import Delivery

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ENDPOINTS = "/api/v1/admin/webhook-endpoints"
GIVEN_UP = "The endpoint no longer subscribes to this event type."


@pytest.fixture(autouse=True)
def loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def emit(*kinds: str) -> list:
    with transaction.atomic():
        return services.events_emit([services.Notice(kind, {"n": 1}) for kind in kinds])


def deliveries(endpoint) -> dict[str, tuple[str, str]]:
    return {
        kind: (status, error)
        for kind, status, error in Delivery.objects.filter(endpoint=endpoint).values_list(
            "event__type", "status", "last_error"
        )
    }


def test_an_event_type_dropped_gives_up_its_pending_deliveries(staff_client):
    endpoint = services.endpoint_create(
        url="http://127.0.0.1:9/hooks", event_types=["invoice.paid", "tokens.purchased"]
    )
    other = services.endpoint_create(
        url="http://127.0.0.1:9/other", event_types=["tokens.purchased"]
    )
    _, purchased = emit("invoice.paid", "tokens.purchased")
    services.endpoint_ping(endpoint_id=endpoint.pk)

    changed = staff_client.patch(
        f"{ENDPOINTS}/{endpoint.pk}", {"event_types": ["invoice.paid"]}, format="json"
    )

    assert changed.status_code == 200
    assert deliveries(endpoint) == {
        "invoice.paid": ("pending", ""),
        "tokens.purchased": ("failed", GIVEN_UP),
        "ping": ("pending", ""),
    }
    assert deliveries(other) == {"tokens.purchased": ("pending", "")}
    resent = staff_client.post(f"/api/v1/admin/webhook-events/{purchased}/resend")
    assert resent.json()["deliveries"] == 1
    assert deliveries(endpoint)["tokens.purchased"] == ("failed", GIVEN_UP)


def test_an_event_type_added_keeps_what_is_pending():
    endpoint = services.endpoint_create(
        url="http://127.0.0.1:9/hooks", event_types=["invoice.paid"]
    )
    emit("invoice.paid")

    services.endpoint_update(endpoint_id=endpoint.pk, event_types=["invoice.paid", "lot.expired"])

    assert deliveries(endpoint) == {"invoice.paid": ("pending", "")}
