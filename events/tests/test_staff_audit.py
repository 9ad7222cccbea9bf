"""Who lifted a webhook endpoint's pause, turned it on or off, rotated its secret, added or
deleted it, sent it a test or resent an event, through the admin's list actions or the staff
API: the History names them. Before, only the admin's change and delete pages wrote it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse
from django.utils import timezone

from common.tests.audit import history, records
from common.tests.helpers import database_state
from events import services
from events.models import Event, WebhookEndpoint
from events.services.endpoints import DELETING

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ENDPOINTS = "/api/v1/admin/webhook-endpoints"
CHANGELIST = "admin:events_webhookendpoint_changelist"


@pytest.fixture
def endpoint(loopback) -> WebhookEndpoint:
    return services.endpoint_create(url="http://127.0.0.1:9/in", event_types=["ping"])


def act(client, action: str, endpoint: WebhookEndpoint) -> None:
    client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [endpoint.pk]})


def test_lifting_a_pause_in_the_admin_names_the_staff_member(staff_browser, staff_user, endpoint):
    until = timezone.now() + timedelta(hours=24)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_until=until)

    act(staff_browser, "lift_pause", endpoint)

    assert WebhookEndpoint.objects.get(pk=endpoint.pk).paused_until is None
    assert history(endpoint) == [
        (staff_user.email, f"Pause lifted (it was until {until.isoformat()}).")
    ]


def test_lifting_no_pause_records_nothing(staff_browser, endpoint):
    before, logged = database_state(), records()

    act(staff_browser, "lift_pause", endpoint)

    assert database_state() == before
    assert records() == logged


def test_turning_on_and_pinging_in_the_admin_names_the_staff_member(
    staff_browser, staff_user, endpoint
):
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)

    act(staff_browser, "turn_on", endpoint)
    act(staff_browser, "ping", endpoint)

    ping = Event.objects.get(type="ping")
    assert history(endpoint) == [
        (staff_user.email, "Changed is_active=True; failures and pause forgotten."),
        (staff_user.email, f"Test ping {ping.pk}."),
    ]


def test_resending_in_the_admin_names_the_staff_member(staff_browser, staff_user, endpoint):
    event = services.endpoint_ping(endpoint_id=endpoint.pk)

    staff_browser.post(
        reverse("admin:events_event_changelist"),
        {"action": "resend", "_selected_action": [event.pk]},
    )

    assert history(event) == [(staff_user.email, "Resent: 1 queued.")]


def test_the_staff_api_names_the_staff_member(staff_client, staff_user, loopback):
    created = staff_client.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/in", "event_types": ["ping"]}, format="json"
    )
    endpoint = WebhookEndpoint.objects.get(pk=created.data["id"])
    url = f"{ENDPOINTS}/{endpoint.pk}"
    staff_client.post(f"{url}/rotate-secret")
    staff_client.post(f"{url}/test")
    ping = Event.objects.get(type="ping")
    staff_client.post(f"/api/v1/admin/webhook-events/{ping.pk}/resend")
    staff_client.patch(url, {"is_active": False}, format="json")
    staff_client.post(f"/api/v1/admin/webhook-events/{ping.pk}/resend")  # to no endpoint
    staff_client.patch(url, {}, format="json")

    assert history(endpoint) == [
        (staff_user.email, "Added."),
        (staff_user.email, "Secret rotated."),
        (staff_user.email, f"Test ping {ping.pk}."),
        (staff_user.email, "Changed is_active=False."),
    ]
    assert history(ping) == [(staff_user.email, "Resent: 1 queued.")]


def test_deleting_through_the_api_names_the_staff_member(staff_client, staff_user, endpoint):
    response = staff_client.delete(f"{ENDPOINTS}/{endpoint.pk}")

    assert response.status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert list(
        LogEntry.objects.filter(object_id=str(endpoint.pk)).values_list(
            "user_id", "action_flag", "object_repr"
        )
    ) == [(staff_user.pk, DELETION, endpoint.url)]


def test_a_refused_turning_on_through_the_api_records_nothing(staff_client, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_reason=DELETING)
    before, logged = database_state(), records()

    response = staff_client.patch(f"{ENDPOINTS}/{endpoint.pk}", {"is_active": True}, format="json")

    assert response.status_code == 409
    assert database_state() == before
    assert records() == logged
