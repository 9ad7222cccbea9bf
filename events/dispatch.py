"""Sending: deliveries that are due are leased, signed by the Standard Webhooks scheme and
POSTed after commit, each attempt recorded. A thread pool sends them, at most a few at once
per endpoint, so one slow or dead endpoint never holds up the others."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import urllib3
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook
from urllib3.util import Timeout

from events import services
from events.addresses import AddressRefused, url_refusal
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from events.transport import webhook_session

logger = logging.getLogger(__name__)

BACKOFF = [
    timedelta(seconds=5),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
]
# The whole attempt, from connecting to the answer's last byte (docs/api.md: "A 2xx answer
# within 10 s is delivered").
TIMEOUT_SECONDS = 10
# What is read of an answer's body: enough for the connection to be used again, no more.
ANSWER_BODY_BYTES = 64 * 1024
DISABLE_AFTER = timedelta(days=5)
# The share of the sending threads one endpoint may take at once: a hanging endpoint holds a
# quarter of the pool (8 of 32 threads) and nothing else.
ENDPOINT_SHARE = 4


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(event: Event) -> bytes:
    return json.dumps(
        {
            "id": event.webhook_id,
            "type": event.type,
            "created_at": event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": event.data,
        },
        separators=(",", ":"),
    ).encode()


def signed_headers(endpoint: WebhookEndpoint, event: Event, body: bytes, now: datetime) -> dict:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature`: one `v1,` signature per
    secret in use (two for 24 h after a rotation)."""
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until > now:
        keys.append(endpoint.previous_secret)
    signatures = [
        Webhook(key).sign(msg_id=event.webhook_id, timestamp=now, data=body) for key in keys
    ]
    return {
        "content-type": "application/json",
        "webhook-id": event.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def delivery_send(delivery: Delivery, *, now: datetime, session: requests.Session) -> Outcome:
    """One attempt over the network, outside any transaction, over a `webhook_session()` (it
    keeps connections to an endpoint open between attempts, and checks the address it
    connects to). The answer must end within TIMEOUT_SECONDS of the attempt's start, however
    slowly the endpoint sends it, so that an attempt never outlives its lease; its body is
    read up to ANSWER_BODY_BYTES only, enough to keep the connection for the next attempt.
    Whatever the endpoint or the network does is an Outcome, never an exception."""
    refusal = url_refusal(delivery.endpoint.url)
    if refusal:
        return Outcome(status_code=None, duration_ms=0, error=f"Not sent: {refusal}")
    body = event_body(delivery.event)
    started = time.monotonic()
    try:
        with session.post(
            delivery.endpoint.url,
            data=body,
            headers=signed_headers(delivery.endpoint, delivery.event, body, now),
            timeout=Timeout(total=TIMEOUT_SECONDS),
            allow_redirects=False,
            stream=True,
        ) as response:
            response.raw.read(ANSWER_BODY_BYTES, decode_content=False)
    except AddressRefused as refused:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(status_code=None, duration_ms=elapsed, error=f"Not sent: {refused}")
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(status_code=None, duration_ms=elapsed, error=_error_name(error))
    elapsed = int((time.monotonic() - started) * 1000)
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Outcome(status_code=response.status_code, duration_ms=elapsed, error=error)


def _error_name(error: Exception) -> str:
    """A body that outlives the deadline raises urllib3's ReadTimeoutError; it is recorded
    as the same timeout as headers that outlive it."""
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return requests.ReadTimeout.__name__
    return type(error).__name__


def delivery_record(delivery_id: int, outcome: Outcome, *, now: datetime) -> None:
    """One attempt's outcome (see deliveries_record)."""
    deliveries_record([(delivery_id, outcome)], now=now)


def deliveries_record(outcomes: list[tuple[int, Outcome]], *, now: datetime) -> None:
    """The attempts, and what each means for its delivery (done, retried later, given up) and
    its endpoint (failing since when; disabled after 5 days of failures). One transaction and
    a fixed number of statements for the whole batch. Locks the batch's endpoints before
    their deliveries, in the order turning an endpoint off takes them (endpoint_update), so
    the two never deadlock."""
    delivery_ids = [delivery_id for delivery_id, _ in outcomes]
    with transaction.atomic():
        of_the_batch = Delivery.objects.filter(pk__in=delivery_ids).values("endpoint_id")
        list(
            WebhookEndpoint.objects.select_for_update(no_key=True)
            .filter(pk__in=of_the_batch)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        locked = Delivery.objects.select_for_update().filter(
            pk__in=delivery_ids, status=Delivery.Status.PENDING
        )
        deliveries = {delivery.pk: delivery for delivery in locked}
        attempts, delivered, retried = [], [], []
        for delivery_id, outcome in outcomes:
            delivery = deliveries.get(delivery_id)
            if delivery is None:
                continue
            delivery.attempts += 1
            attempts.append(
                DeliveryAttempt(
                    delivery=delivery,
                    attempt=delivery.attempts,
                    status_code=outcome.status_code,
                    duration_ms=outcome.duration_ms,
                    error=outcome.error[:1000],
                    created_at=now,
                )
            )
            if outcome.delivered:
                delivered.append(delivery)
                continue
            delivery.leased_until, delivery.last_error = None, outcome.error[:1000]
            if delivery.attempts > len(BACKOFF):
                delivery.status, delivery.completed_at = Delivery.Status.FAILED, now
            else:
                delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
            retried.append(delivery)
        DeliveryAttempt.objects.bulk_create(attempts)
        # Most attempts succeed and change their delivery alike: one plain UPDATE for them.
        Delivery.objects.filter(pk__in=[delivery.pk for delivery in delivered]).update(
            status=Delivery.Status.SUCCEEDED,
            completed_at=now,
            leased_until=None,
            last_error="",
            attempts=F("attempts") + 1,
        )
        Delivery.objects.bulk_update(
            retried,
            ["attempts", "leased_until", "status", "completed_at", "last_error", "next_attempt_at"],
        )
        succeeded = {delivery.endpoint_id for delivery in delivered}
        failed = {delivery.endpoint_id for delivery in retried}
        endpoints = WebhookEndpoint.objects.all()
        endpoints.filter(pk__in=succeeded).exclude(failing_since=None).update(failing_since=None)
        endpoints.filter(pk__in=failed - succeeded, failing_since=None).update(failing_since=now)
        for endpoint_id in failed - succeeded:
            _disable_if_failing_too_long(endpoint_id, now)


def _disable_if_failing_too_long(endpoint_id, now: datetime) -> None:
    failing = WebhookEndpoint.objects.filter(
        pk=endpoint_id, is_active=True, failing_since__lte=now - DISABLE_AFTER
    )
    if failing.update(
        is_active=False,
        disabled_at=now,
        disabled_reason="Every delivery failed for 5 days; turn it on again once it answers.",
    ):
        services.endpoint_deliveries_fail(
            endpoint_id=endpoint_id, now=now, reason="The endpoint was disabled."
        )


def deliveries_claim(
    *,
    limit: int,
    room: dict,
    now: datetime,
    per_endpoint: int,
    in_flight: Collection[int] = (),
) -> list[Delivery]:
    """Leases up to `limit` due deliveries of active endpoints, oldest due first, at most
    `room.get(endpoint, per_endpoint)` per endpoint, none of `in_flight` (the caller's own
    attempts not yet recorded: a lease that lapsed under them must not send them twice).
    Concurrent workers skip each other's rows (SKIP LOCKED on PostgreSQL; SQLite's write
    lock serializes them)."""
    due = (
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True
        )
        .exclude(leased_until__gt=now)
        .exclude(pk__in=list(in_flight))
        .exclude(endpoint_id__in=[endpoint for endpoint, free in room.items() if free <= 0])
    )
    taken: dict = {}
    picked = []
    for delivery_id, endpoint in due.order_by("next_attempt_at", "id").values_list(
        "id", "endpoint_id"
    )[: limit * 4]:
        if len(picked) == limit:
            break
        if taken.get(endpoint, 0) < room.get(endpoint, per_endpoint):
            taken[endpoint] = taken.get(endpoint, 0) + 1
            picked.append(delivery_id)
    if not picked:
        return []
    with transaction.atomic():
        still_due = due.filter(pk__in=picked)
        if connection.vendor == "postgresql":
            still_due = still_due.select_for_update(skip_locked=True, of=("self",))
        ids = list(still_due.values_list("id", flat=True))
        lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        Delivery.objects.filter(pk__in=ids).update(leased_until=now + lease)
    return list(Delivery.objects.filter(pk__in=ids).select_related("event", "endpoint"))


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
                deliveries_record(batch, now=timezone.now())
            finally:
                # Written or lost with the connection: a lost outcome's delivery goes out
                # again once its lease lapses (at least once), so it is no longer held back.
                self.unrecorded.difference_update(delivery_id for delivery_id, _ in batch)
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
        self.outcomes.put((delivery.pk, outcome))
        with self.lock:
            self.in_flight[delivery.endpoint_id] -= 1

    def in_flight_total(self) -> int:
        with self.lock:
            return sum(self.in_flight.values())

    def run_for(self, seconds: float, *, idle_wait: float = 0.2) -> None:
        """Dispatches for `seconds`, then records what is still in flight. When there is
        nothing to hand over it waits for an outcome instead of polling."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if not self.dispatch():
                self.record(wait=idle_wait)
        deadline = time.monotonic() + TIMEOUT_SECONDS + 5
        while (self.in_flight_total() or not self.outcomes.empty()) and time.monotonic() < deadline:
            self.record(wait=0.2)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.record()
