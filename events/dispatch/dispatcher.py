"""The worker's sending loop: a thread pool that sends, the thread that leases and records."""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.utils import timezone

from events.dispatch import recording
from events.dispatch.claiming import deliveries_claim
from events.dispatch.sending import TIMEOUT_SECONDS, Outcome, delivery_send
from events.models import Delivery
from events.transport import webhook_session

logger = logging.getLogger(__name__)

# The share of the sending threads one endpoint may take at once: a hanging endpoint holds a
# quarter of the pool (8 of 32 threads) and nothing else.
ENDPOINT_SHARE = 4


class Dispatcher:
    """Sends due deliveries from a thread pool, at most a quarter of its threads at once per
    endpoint, and records what came of them in batches, from the thread that leases them."""

    def __init__(self, *, threads: int = 32) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
        self.threads = threads
        self.per_endpoint = max(1, threads // ENDPOINT_SHARE)
        self.in_flight: dict = {}
        # Deliveries handed to the pool whose outcome is not written yet; only the dispatching
        # thread reads and writes this.
        self.unrecorded: set[int] = set()
        self.lock = threading.Lock()
        self.outcomes: queue.Queue = queue.Queue()
        self.sessions = threading.local()

    def dispatch(self) -> int:
        """Records what has come back, then leases what is due and hands it to the pool;
        returns how many it handed over."""
        self.record()
        with self.lock:
            room = {key: self.per_endpoint - count for key, count in self.in_flight.items()}
            free = self.threads - sum(self.in_flight.values())
        if free <= 0:
            return 0
        claimed = deliveries_claim(
            limit=free,
            room=room,
            now=timezone.now(),
            per_endpoint=self.per_endpoint,
            in_flight=self.unrecorded,
        )
        self.unrecorded.update(delivery.pk for delivery in claimed)
        for delivery in claimed:
            with self.lock:
                endpoint = delivery.endpoint_id
                self.in_flight[endpoint] = self.in_flight.get(endpoint, 0) + 1
            self.pool.submit(self._send, delivery)
        return len(claimed)

    def record(self, *, wait: float = 0) -> int:
        """Writes the outcomes that have come back (waiting up to `wait` for the first)."""
        batch = []
        try:
            batch.append(self.outcomes.get(timeout=wait) if wait else self.outcomes.get_nowait())
            while len(batch) < 500:
                batch.append(self.outcomes.get_nowait())
        except queue.Empty:
            pass
        if batch:
            try:
                recording.deliveries_record(batch, now=timezone.now())
            finally:
                # Written or lost with the connection: a lost outcome's delivery goes out
                # again once its lease lapses (at least once), so it is no longer held back.
                self.unrecorded.difference_update(delivery_id for delivery_id, *_ in batch)
        return len(batch)

    def _send(self, delivery: Delivery) -> None:
        """On a pool thread: network only, no database (the outcome is recorded in batches)."""
        if not hasattr(self.sessions, "session"):
            self.sessions.session = webhook_session()
        try:
            outcome = delivery_send(delivery, now=timezone.now(), session=self.sessions.session)
        except Exception as error:
            logger.exception("Delivery %s failed unexpectedly", delivery.pk)
            outcome = Outcome(status_code=None, duration_ms=0, error=type(error).__name__)
        # With the lease it was sent under: recorded after that lease lapsed and another
        # worker took the delivery, it leaves that worker's lease alone.
        self.outcomes.put((delivery.pk, outcome, delivery.leased_until))
        with self.lock:
            self.in_flight[delivery.endpoint_id] -= 1

    def in_flight_total(self) -> int:
        with self.lock:
            return sum(self.in_flight.values())

    def run_for(
        self, seconds: float, *, idle_wait: float = 0.2, stop: threading.Event | None = None
    ) -> None:
        """Dispatches for `seconds`, or until `stop` is set (the worker is stopping), then
        records what is still in flight. When there is nothing to hand over it waits for an
        outcome instead of polling."""
        until = time.monotonic() + seconds
        while time.monotonic() < until and not (stop is not None and stop.is_set()):
            if not self.dispatch():
                self.record(wait=idle_wait)
        deadline = time.monotonic() + TIMEOUT_SECONDS + 5
        while (self.in_flight_total() or not self.outcomes.empty()) and time.monotonic() < deadline:
            self.record(wait=0.2)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.record()
