"""The worker's sending loop: a thread pool that sends, the thread that leases and records."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from events.dispatch import recording
from events.dispatch.claiming import deliveries_claim
from events.dispatch.sending import TIMEOUT_SECONDS, Outcome, delivery_send
from events.models import Delivery
from events.transport import webhook_session

logger = logging.getLogger(__name__)

# How often a worker sets its clock to the database's again (clocks drift by milliseconds a
# minute, where they may disagree by seconds).
CLOCK_CHECK_SECONDS = 60
# How far the database's clock may be from this machine's before each check says so: new
# events are due by the database's clock (events.services.outbox), but staff's pings and
# resends by the web machines' clocks, and the worker reads them by the database's.
CLOCK_DISAGREES = timedelta(seconds=30)
# The share of the sending threads one endpoint may take at once: a hanging endpoint holds a
# quarter of the pool (8 of 32 threads) and nothing else.
ENDPOINT_SHARE = 4


class Dispatcher:
    """Sends due deliveries from a thread pool, at most a quarter of its threads at once per
    endpoint, and records what came of them in batches, from the thread that leases them."""

    def __init__(self, *, threads: int = 32, clock: Callable[[], datetime] = timezone.now) -> None:
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
        self.clock = clock
        # What to add to `clock` for the database's time, and when (monotonic) it was read.
        self.offset, self.offset_read_at = timedelta(0), None

    def dispatch(self) -> int:
        """Records what has come back, then leases what is due and hands it to the pool;
        returns how many it handed over."""
        self._clock_set()
        self.record()
        with self.lock:
            room = {key: self.per_endpoint - count for key, count in self.in_flight.items()}
            free = self.threads - sum(self.in_flight.values())
        if free <= 0:
            return 0
        claimed = deliveries_claim(
            limit=free,
            room=room,
            now=self.now(),
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
                recording.deliveries_record(batch, now=self.now())
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
            outcome = delivery_send(delivery, now=self.now(), session=self.sessions.session)
        except Exception as error:
            logger.exception("Delivery %s failed unexpectedly", delivery.pk)
            outcome = Outcome(status_code=None, duration_ms=0, error=type(error).__name__)
        # With the lease it was sent under: recorded after that lease lapsed and another
        # worker took the delivery, it leaves that worker's lease alone.
        self.outcomes.put((delivery.pk, outcome, delivery.leased_until))
        with self.lock:
            self.in_flight[delivery.endpoint_id] -= 1

    def now(self) -> datetime:
        """This worker's clock set to the database's, which every worker reads: when its
        attempts were sent is compared with when another worker's were (a failure sent
        before another attempt's 2xx is no failure in a row), its leases and retries with
        other workers' clocks. By each machine's own clock, seconds apart, a 2xx from a
        worker running fast outweighed a newer 410 heard by another."""
        return self.clock() + self.offset

    def _clock_set(self) -> None:
        """Reads the database's clock again every CLOCK_CHECK_SECONDS, and warns at each read
        that finds it more than CLOCK_DISAGREES from this machine's: a database clock minutes
        behind held back every new delivery, stamped due by the web's clock, that long, and
        nothing said why."""
        read_at = self.offset_read_at
        if read_at is None or time.monotonic() - read_at >= CLOCK_CHECK_SECONDS:
            self.offset = database_offset(self.clock)
            self.offset_read_at = time.monotonic()
            if abs(self.offset) > CLOCK_DISAGREES:
                logger.warning(
                    "The database's clock is %+.0f s from this machine's: the worker stamps"
                    " deliveries by the database's, the web by its machines'; set both by NTP",
                    self.offset.total_seconds(),
                )

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


def database_offset(clock: Callable[[], datetime]) -> timedelta:
    """How far the database's clock is ahead of `clock`, read once the database has answered:
    a stamp so set is at most the query's round trip early, never late, so an attempt sent
    after another worker's (after that worker read the clock) is never stamped before it.
    SQLite's database is a file on this machine: its clock is the machine's."""
    if connection.vendor != "postgresql":
        return timezone.now() - clock()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (database,) = cursor.fetchone()
    return database - clock()
