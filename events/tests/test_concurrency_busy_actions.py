"""The endpoint list's actions (Send a test ping, Turn on, Send now) on several endpoints,
each endpoint in its own transaction: one the database was too busy for (a lock held past
the lock timeout) was the busy page's "nothing was done", though the endpoints before it
had been pinged, and a second try pinged them twice. Now it is named, the others done. A
real row lock, held by another connection, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from common.tests.waits import row_locked, timeouts
from events import services
from events.models import Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_ping_to_endpoints_one_of_which_is_busy_pings_the_others_and_names_it(
    loopback, staff_browser
):
    held, free = (
        services.endpoint_create(url=f"http://127.0.0.1:9/{name}", event_types=["ping"])
        for name in ("held", "free")
    )
    # The list's order (newest first) is the action's: the free endpoint goes first.
    WebhookEndpoint.objects.filter(pk=held.pk).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )

    sql = "SELECT 1 FROM events_webhookendpoint WHERE id = %s FOR UPDATE"
    with row_locked(sql, [held.pk]), timeouts(lock_ms=200, statement_ms=60_000):
        response = staff_browser.post(
            reverse("admin:events_webhookendpoint_changelist"),
            {"action": "ping", "_selected_action": [str(held.pk), str(free.pk)]},
            follow=True,
        )

    shown = response.context["messages"] if "messages" in (response.context or {}) else []
    said = [str(message) for message in shown]
    assert (response.status_code, said) == (
        200,
        [
            "Ping queued.",
            "Not queued: http://127.0.0.1:9/held: the database was busy, nothing was changed."
            " Try again in 3 seconds.",
        ],
    )
    assert list(Delivery.objects.values_list("endpoint_id", "event__type")) == [(free.pk, "ping")]
