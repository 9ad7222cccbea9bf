"""Staff roles in the webhook API: an endpoint gets every invoice and token event it names,
so creating, changing, rotating, testing and deleting one need what the endpoint admin asks
(events.add_, change_ and delete_webhookendpoint), and resending an event what the event
admin's Resend asks (events.change_event). A support agent given view permissions only could
subscribe an outside URL to every event through the staff API with their own token."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from accounts.tests.factories import UserFactory, staff_in_role
from common.tests.helpers import database_state
from conftest import client_for
from events import services
from events.models import Event, WebhookEndpoint

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ENDPOINTS = "/api/v1/admin/webhook-endpoints"
VIEWER = ("events.view_webhookendpoint", "events.view_event", "events.view_deliveryattempt")
EVERYTHING = (
    "events.add_webhookendpoint",
    "events.change_webhookendpoint",
    "events.delete_webhookendpoint",
    "events.change_event",
)


@pytest.fixture
def endpoint(settings) -> WebhookEndpoint:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    return services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])


@pytest.fixture
def event(endpoint) -> Event:
    return services.endpoint_ping(endpoint_id=endpoint.pk)


def every_write(client, endpoint: WebhookEndpoint, event: Event) -> list[tuple[int, str | None]]:
    one = f"{ENDPOINTS}/{endpoint.pk}"
    answers = [
        client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/mine", "event_types": ["ping"]}),
        client.patch(one, {"url": "http://127.0.0.1:9/theirs"}),
        client.post(f"{one}/rotate-secret"),
        client.post(f"{one}/test"),
        client.post(f"/api/v1/admin/webhook-events/{event.webhook_id}/resend"),
        client.delete(one),
    ]
    return [(a.status_code, a.json().get("code") if a.content else None) for a in answers]


def test_a_view_only_role_changes_no_webhook_endpoint_nor_resends(endpoint, event):
    agent = client_for(staff_in_role(*VIEWER))
    before = database_state()

    answers = every_write(agent, endpoint, event)

    assert answers == [(403, "permission_denied")] * 6
    assert database_state() == before
    reads = [ENDPOINTS, f"{ENDPOINTS}/{endpoint.pk}", f"{ENDPOINTS}/{endpoint.pk}/deliveries"]
    assert [agent.get(path).status_code for path in reads] == [200, 200, 200]


def test_each_refusal_names_the_permission_the_admin_asks(endpoint, event):
    editor = client_for(staff_in_role("events.view_webhookendpoint"))
    one = f"{ENDPOINTS}/{endpoint.pk}"

    errors = [
        editor.post(ENDPOINTS, {"url": "http://127.0.0.1:9/x", "event_types": ["ping"]}),
        editor.patch(one, {"is_active": False}),
        editor.post(f"{one}/test"),
        editor.delete(one),
        editor.post(f"/api/v1/admin/webhook-events/{event.webhook_id}/resend"),
    ]

    assert [
        next(name for name in EVERYTHING if name in answer.json()["error"]) for answer in errors
    ] == [
        "events.add_webhookendpoint",
        "events.change_webhookendpoint",
        "events.change_webhookendpoint",
        "events.delete_webhookendpoint",
        "events.change_event",
    ]


@pytest.mark.parametrize(
    "staff",
    [
        lambda: staff_in_role(*VIEWER, *EVERYTHING),
        lambda: UserFactory(is_staff=True),  # no role at all: the contract's staff
        lambda: UserFactory(is_staff=True, is_superuser=True),
    ],
    ids=["role with the webhook permissions", "staff without a role", "superuser"],
)
def test_staff_who_may_change_webhooks_do_every_write(endpoint, event, staff):
    answers = every_write(client_for(staff()), endpoint, event)

    assert [status for status, _ in answers] == [201, 200, 200, 202, 202, 204]


def test_the_schema_documents_each_write_s_403_with_its_permission(tmp_path):
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(path))
    paths = yaml.safe_load(path.read_text())["paths"]
    one = "/api/v1/admin/webhook-endpoints/{id}"
    writes = {
        ("post", "/api/v1/admin/webhook-endpoints"): "events.add_webhookendpoint",
        ("patch", one): "events.change_webhookendpoint",
        ("delete", one): "events.delete_webhookendpoint",
        ("post", f"{one}/rotate-secret"): "events.change_webhookendpoint",
        ("post", f"{one}/test"): "events.change_webhookendpoint",
        ("post", "/api/v1/admin/webhook-events/{id}/resend"): "events.change_event",
    }

    documented = {
        key: paths[key[1]][key[0]]["responses"].get("403", {}).get("description", "")
        for key in writes
    }

    assert {key: name for key, name in writes.items() if name not in documented[key]} == {}
