"""Workers whose leases lapse, each on a thread of its own with its own connection, shared by
the test_lease* modules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from django.db import connections

from events.dispatch import Outcome, deliveries_claim, deliveries_record
from events.models import Delivery

T = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
FAILED = Outcome(503, 10_000, "ReadTimeout after 10 s")
DELIVERED = Outcome(204, 40)


def as_a_worker(work):
    """`work()` on a thread of its own (its own connection, closed after); its result."""
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result["value"]


def claim(now: datetime) -> list[Delivery]:
    return as_a_worker(lambda: deliveries_claim(limit=10, room={}, now=now, per_endpoint=5))


def record(delivery: Delivery, outcome: Outcome, now: datetime) -> None:
    """What the dispatcher records: the outcome with the lease it was sent under."""
    held = (delivery.pk, outcome, delivery.leased_until)
    as_a_worker(lambda: deliveries_record([held], now=now))
