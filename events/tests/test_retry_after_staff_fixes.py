"""A receiver that answers 429 Too Many Requests or 503 Service Unavailable with `Retry-After`
is sent nothing more before then (Standard Webhooks, "Delivery success and failure"): the
delivery it answered, and its endpoint's other deliveries, wait at least that long, at most the
schedule's last wait (24 h); an unreadable or past `Retry-After`, or one on another answer,
leaves the schedule as it was. Its attempt is one failure, as before."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from events import services
from events.dispatch import (
    deliveries_record,
)
from events.models import Delivery
from events.tests.retry_after_helpers import NOW, PAUSE, due_to, pings, send_and_record


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
def test_a_pause_recorded_while_staff_fix_the_url_finishes_both(loopback):
    """The pause holds the endpoint's other deliveries after the endpoint's lock, as a new URL
    brings them forward: held up on one of them, it makes the change wait, never deadlock."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "a race of row locks: SQLite has one write lock for the whole database, so the "
            "recording and the URL change cannot interleave there"
        )
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = pings(endpoint, 2)
    start = timezone.now()
    done: dict[str, object] = {}

    def in_thread(name: str, work) -> threading.Thread:
        def run() -> None:
            try:
                done[name] = work()
            except Exception as error:  # the test reports whatever the work raised
                done[name] = error
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with row_locked("SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE", [other.pk]):
        recording = in_thread(
            "record", lambda: deliveries_record([(recorded.pk, PAUSE)], now=start)
        )
        wait_until(lambda: "record" in done or sessions_waiting_on_a_lock() >= 1)
        fixing = in_thread(
            "fix",
            lambda: (
                services.endpoint_update(endpoint_id=endpoint.pk, url="http://127.0.0.1:9/ok").url
            ),
        )
        wait_until(lambda: "fix" in done or sessions_waiting_on_a_lock() >= 2)
    recording.join()
    fixing.join()

    assert done == {"record": None, "fix": "http://127.0.0.1:9/ok"}
    # Fixed after the pause: both deliveries were brought forward, their attempts kept.
    rows = Delivery.objects.in_bulk([recorded.pk, other.pk])
    assert [
        (rows[d.pk].attempts, rows[d.pk].next_attempt_at < start + PAUSE.retry_after)
        for d in (recorded, other)
    ] == [(1, True), (0, True)]


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "3600")], indirect=True)
@pytest.mark.parametrize(
    "fix", [{"url": "http://127.0.0.1:9/fixed"}, {"is_active": False}], ids=["url", "off-on"]
)
def test_a_staff_fix_lifts_the_pause(slow_down, fix):
    """A new URL is another receiver, and an endpoint turned on again was said fixed by staff:
    the pause asked for at the old one no longer holds (as its backoff does not)."""
    (paused,) = pings(slow_down.endpoint, 1)
    send_and_record(paused)
    services.endpoint_update(endpoint_id=slow_down.endpoint.pk, **fix)
    if fix.get("is_active") is False:
        services.endpoint_update(endpoint_id=slow_down.endpoint.pk, is_active=True)
    pings(slow_down.endpoint, 1)
    pending = Delivery.objects.filter(endpoint=slow_down.endpoint, status="pending")

    due = due_to(slow_down.endpoint, NOW + timedelta(minutes=1))

    assert due == list(pending.order_by("pk").values_list("pk", flat=True))
    assert len(due) == (2 if "url" in fix else 1)
