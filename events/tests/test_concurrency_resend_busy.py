"""The event admin's Resend of many events, held up part way: its batches commit one by one,
and a batch the database was too busy for (a lock held past the lock timeout) after the
first had committed was the busy page's "nothing was done", though the first part was
resent; staff resending again sent that part twice. Now the list says how many were resent
and how many were not. A real row lock, held by another connection, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from common.tests.waits import row_locked, timeouts
from events import services
from events.models import Delivery, Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_resend_held_up_after_its_first_batch_says_what_was_resent_and_what_was_not(
    loopback, staff_browser, monkeypatch
):
    monkeypatch.setattr("events.services.resend.RESEND_BATCH", 1)
    now = timezone.now()
    held, free = (
        services.endpoint_create(url=f"http://127.0.0.1:9/{name}", event_types=["ping"])
        for name in ("held", "free")
    )
    # The list's order (newest first) is the batches': the free endpoint's ping goes first.
    older = services.endpoint_ping(endpoint_id=held.pk)
    newer = services.endpoint_ping(endpoint_id=free.pk)
    Event.objects.filter(pk=older.pk).update(created_at=now - timedelta(minutes=1))
    Delivery.objects.update(status=Delivery.Status.SUCCEEDED, completed_at=now)

    sql = "SELECT 1 FROM events_webhookendpoint WHERE id = %s FOR UPDATE"
    with row_locked(sql, [held.pk]), timeouts(lock_ms=200, statement_ms=60_000):
        response = staff_browser.post(
            reverse("admin:events_event_changelist"),
            {"action": "resend", "_selected_action": [str(older.pk), str(newer.pk)]},
            follow=True,
        )

    shown = response.context["messages"] if "messages" in (response.context or {}) else []
    said = [str(message) for message in shown]
    assert (response.status_code, said) == (
        200,
        [
            "1 deliveries queued again.",
            "The database was busy: 1 of the 2 selected events were not resent, the others"
            " were. Try again in 3 seconds; resending them all sends the others again too.",
        ],
    )
    assert dict(Delivery.objects.values_list("event_id", "status")) == {
        newer.pk: Delivery.Status.PENDING,
        older.pk: Delivery.Status.SUCCEEDED,
    }
    resent = LogEntry.objects.filter(change_message__startswith="Resent")
    assert list(resent.values_list("object_id", flat=True)) == [str(newer.pk)]
