"""Threads and admin deletions shared by the test_concurrency_* modules."""

import threading

from django.db import connections
from django.utils import timezone

from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from events import dispatch
from events.dispatch import Outcome
from events.models import Delivery, Event


def _two_pending(endpoint, *, recorded_first: bool) -> tuple[Delivery, Delivery]:
    """Two pending deliveries of `endpoint`, the one whose failed attempt is recorded and one
    other, in the order a statement over both takes them."""
    first, second = (
        Delivery.objects.create(event=Event.objects.create(type="ping", data={}), endpoint=endpoint)
        for _ in range(2)
    )
    return (first, second) if recorded_first else (second, first)


def _in_thread(outcomes: dict, name: str, work) -> threading.Thread:
    def run() -> None:
        try:
            outcomes[name] = work()
        except Exception as error:  # the test reports whatever the work raised
            outcomes[name] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _recording_beside(change, recorded, other) -> dict:
    """`change` starts while another transaction holds `other`, so it waits after taking
    what it takes first; the attempt on `recorded` is then recorded beside it."""
    outcomes: dict[str, object] = {}
    failed = Outcome(status_code=503, duration_ms=3, error="HTTP 503")
    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [other.pk]):
        changing = _in_thread(outcomes, "change", change)
        wait_until(lambda: "change" in outcomes or sessions_waiting_on_a_lock() >= 1)
        recording = _in_thread(
            outcomes,
            "record",
            lambda: dispatch.deliveries_record([(recorded.pk, failed)], now=timezone.now()),
        )
        wait_until(lambda: sessions_waiting_on_a_lock() >= 2 or "record" in outcomes)
    changing.join()
    recording.join()
    return outcomes
