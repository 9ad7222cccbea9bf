"""Admin actions on rows deleted between the list staff saw and the action's run: an event
the purge of old events deleted once the resend had read the selection was the service's
NotFound, a 500 for the whole selection; one deleted before was passed by, "0 deliveries
queued again", as was an endpoint deleted before a ping, without a word."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from common.tests.helpers import database_state
from events import services
from events.models import Delivery, Event, WebhookEndpoint

pytestmark = pytest.mark.django_db


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def old_and_new(loopback):
    """Two delivered events to one endpoint, the first old enough for the purge."""
    services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    with transaction.atomic():
        ids = services.events_emit([services.Notice("ping", {"n": n}) for n in range(2)])
    Delivery.objects.update(status=Delivery.Status.SUCCEEDED, completed_at=timezone.now())
    Event.objects.filter(pk=ids[0]).update(created_at=timezone.now() - timedelta(days=60))
    return ids


def purge() -> None:
    services.events_purge(older_than=timezone.now() - timedelta(days=30))


def resend(staff_browser, event_ids):
    return staff_browser.post(
        reverse("admin:events_event_changelist"),
        {"action": "resend", "_selected_action": [str(pk) for pk in event_ids]},
        follow=True,
    )


def test_resending_an_event_the_purge_deleted_once_the_action_read_it_says_so(
    staff_browser, old_and_new, monkeypatch
):
    """The purge commits between the action's read of the selection and the resend (a
    window of milliseconds, or of the batches before it in a long selection)."""
    old, new = old_and_new
    resent = services.events_resend
    before_the_refusal = {}

    def purged_first(*, event_ids, actor_id):
        purge()
        before_the_refusal.update(database_state())
        return resent(event_ids=event_ids, actor_id=actor_id)

    monkeypatch.setattr(services, "events_resend", purged_first)

    response = resend(staff_browser, [old, new])

    assert response.status_code == 200
    assert said(response) == [
        "1 deliveries queued again.",
        "1 selected event was already deleted by the purge of old events: nothing was done.",
    ]
    assert database_state() == before_the_refusal
    assert list(Event.objects.values_list("pk", flat=True)) == [new]
    assert Delivery.objects.get().status == Delivery.Status.PENDING


def test_resending_events_the_purge_deleted_since_the_list_was_drawn_says_so(
    staff_browser, old_and_new
):
    old, _ = old_and_new
    purge()
    before = database_state()

    response = resend(staff_browser, [old])

    assert response.status_code == 200
    assert said(response) == [
        "1 selected event was already deleted by the purge of old events: nothing was done."
    ]
    assert database_state() == before


def test_pinging_endpoints_deleted_since_the_list_was_drawn_says_so(staff_browser, loopback):
    gone, kept = (
        services.endpoint_create(url=f"http://127.0.0.1:9/hooks{n}", event_types=["ping"])
        for n in range(2)
    )
    services.endpoint_delete(endpoint_id=gone.pk)

    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_changelist"),
        {"action": "ping", "_selected_action": [str(gone.pk), str(kept.pk)]},
        follow=True,
    )

    assert said(response) == [
        "Ping queued.",
        "Not queued: 1 selected endpoint was already deleted by someone else: nothing was done.",
    ]
    assert Delivery.objects.get().endpoint_id == kept.pk


def test_deleting_endpoints_one_of_which_was_deleted_since_the_page_says_so(
    staff_browser, loopback
):
    gone, kept = (
        services.endpoint_create(url=f"http://127.0.0.1:9/hooks{n}", event_types=["ping"])
        for n in range(2)
    )
    services.endpoint_delete(endpoint_id=gone.pk)

    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_changelist"),
        {"action": "delete_selected", "_selected_action": [gone.pk, kept.pk], "post": "yes"},
        follow=True,
    )

    assert said(response) == [
        "Successfully deleted 1 webhook endpoint.",
        "1 selected endpoint was already deleted by someone else: nothing was done.",
    ]
    assert not WebhookEndpoint.objects.exists()
