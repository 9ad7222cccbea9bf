"""Alerts and endpoint changes under real concurrency on PostgreSQL, each thread with its
own connection."""

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse

from common.tests.waits import row_locked, timeouts
from events import services as event_services
from events.models import Delivery, Event, WebhookEndpoint

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


def _admin_page_delete_followed(client, endpoint_id):
    page = reverse("admin:events_webhookendpoint_delete", args=[endpoint_id])
    answer = client.post(page, {"post": "yes"}, follow=True)
    shown = answer.context["messages"] if answer.context and "messages" in answer.context else []
    said = [str(message) for message in shown]
    return answer.status_code, [url for url, _ in answer.redirect_chain], said


def test_an_endpoint_the_database_is_too_busy_to_delete_from_its_page_is_left_as_it_was(
    loopback, staff_browser
):
    """The admin's deletion runs after the page's transaction: a lock held past the lock
    timeout there (a stuck transaction holding the endpoint) was the busy page's "nothing
    was done", after Django had committed a log entry saying the endpoint was deleted. Now
    the endpoint's page again, saying nothing was changed, and nothing logged."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    change = reverse("admin:events_webhookendpoint_change", args=[endpoint.pk])

    sql = "SELECT 1 FROM events_webhookendpoint WHERE id = %s FOR UPDATE"
    with row_locked(sql, [endpoint.pk]), timeouts(lock_ms=200, statement_ms=60_000):
        answered = _admin_page_delete_followed(staff_browser, endpoint.pk)

    assert answered == (
        200,
        [change],
        [
            "“http://127.0.0.1:9/hooks” was not deleted: the database was busy, nothing was "
            "changed. Try again in 3 seconds."
        ],
    )
    assert list(WebhookEndpoint.objects.values_list("is_active", "disabled_reason")) == [(True, "")]
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()


def test_an_endpoint_the_database_is_too_busy_to_finish_deleting_says_so_and_again_finishes(
    loopback, staff_browser, monkeypatch
):
    """Held up at a later batch, the deletion has turned the endpoint off and removed some
    of its deliveries: the page says so, and deleting it again finishes it, logged once."""
    monkeypatch.setattr("events.services.deletion.ENDPOINT_DELETE_BATCH", 2)
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    deliveries = [
        Delivery.objects.create(
            event=Event.objects.create(type="ping", data={}), endpoint=endpoint, status="succeeded"
        )
        for _ in range(5)
    ]
    last = max(delivery.pk for delivery in deliveries)
    change = reverse("admin:events_webhookendpoint_change", args=[endpoint.pk])

    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [last]), timeouts(lock_ms=200, statement_ms=60_000):
        held_up = _admin_page_delete_followed(staff_browser, endpoint.pk)
    left = list(WebhookEndpoint.objects.values_list("is_active", "disabled_reason"))
    again = _admin_page_delete_followed(staff_browser, endpoint.pk)

    assert held_up == (
        200,
        [change],
        [
            "“http://127.0.0.1:9/hooks” is turned off and partly deleted: the database was "
            "busy. Delete it again to finish."
        ],
    )
    assert left == [(False, "The endpoint is being deleted.")]
    assert again == (
        200,
        [reverse("admin:events_webhookendpoint_changelist")],
        ["The webhook endpoint “http://127.0.0.1:9/hooks” was deleted successfully."],
    )
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 1
