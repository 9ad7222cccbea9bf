"""Sending: deliveries that are due are leased, signed by the Standard Webhooks scheme and
POSTed after commit, each attempt recorded. A thread pool sends them, at most a few at once
per endpoint, so one slow or dead endpoint never holds up the others."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from events.addresses import url_refusal
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

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
TIMEOUT_SECONDS = 10
DISABLE_AFTER = timedelta(days=5)
PER_ENDPOINT = 4


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


def delivery_send(delivery: Delivery, *, now: datetime) -> Outcome:
    """One attempt over the network, outside any transaction."""
    refusal = url_refusal(delivery.endpoint.url)
    if refusal:
        return Outcome(status_code=None, duration_ms=0, error=f"Not sent: {refusal}")
    body = event_body(delivery.event)
    started = time.monotonic()
    try:
        response = requests.post(
            delivery.endpoint.url,
            data=body,
            headers=signed_headers(delivery.endpoint, delivery.event, body, now),
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(status_code=None, duration_ms=elapsed, error=type(error).__name__)
    elapsed = int((time.monotonic() - started) * 1000)
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Outcome(status_code=response.status_code, duration_ms=elapsed, error=error)


def delivery_record(delivery_id: int, outcome: Outcome, *, now: datetime) -> None:
    """The attempt, and what it means for the delivery (done, retried later, given up) and
    its endpoint (failing since when; disabled after 5 days of failures)."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != Delivery.Status.PENDING:
            return
        delivery.attempts += 1
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempt=delivery.attempts,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error[:1000],
            created_at=now,
        )
        delivery.leased_until = None
        endpoints = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
        if outcome.delivered:
            delivery.status, delivery.completed_at, delivery.last_error = (
                Delivery.Status.SUCCEEDED,
                now,
                "",
            )
            endpoints.exclude(failing_since=None).update(failing_since=None)
        else:
            delivery.last_error = outcome.error[:1000]
            if delivery.attempts > len(BACKOFF):
                delivery.status, delivery.completed_at = Delivery.Status.FAILED, now
            else:
                delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
            endpoints.filter(failing_since=None).update(failing_since=now)
            _disable_if_failing_too_long(delivery.endpoint_id, now)
        delivery.save()


def _disable_if_failing_too_long(endpoint_id, now: datetime) -> None:
    failing = WebhookEndpoint.objects.filter(
        pk=endpoint_id, is_active=True, failing_since__lte=now - DISABLE_AFTER
    )
    if failing.update(
        is_active=False,
        disabled_at=now,
        disabled_reason="Every delivery failed for 5 days; turn it on again once it answers.",
    ):
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED, completed_at=now, last_error="The endpoint was disabled."
        )


def deliveries_claim(*, limit: int, skip_endpoints: set, now: datetime) -> list[Delivery]:
    """Leases up to `limit` due deliveries (not those of `skip_endpoints`), oldest due first.
    Concurrent workers skip each other's rows (SKIP LOCKED on PostgreSQL; SQLite's write
    lock serializes them)."""
    with transaction.atomic():
        due = (
            Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .exclude(leased_until__gt=now)
            .exclude(endpoint_id__in=skip_endpoints)
            .order_by("next_attempt_at", "id")
        )
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        Delivery.objects.filter(pk__in=ids).update(leased_until=now + lease)
    return list(Delivery.objects.filter(pk__in=ids).select_related("event", "endpoint"))


class Dispatcher:
    """Sends due deliveries from a thread pool, at most PER_ENDPOINT at once per endpoint."""

    def __init__(self, *, threads: int = 32) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
        self.threads = threads
        self.in_flight: dict = {}
        self.lock = threading.Lock()

    def busy_endpoints(self) -> set:
        with self.lock:
            return {key for key, count in self.in_flight.items() if count >= PER_ENDPOINT}

    def dispatch(self) -> int:
        """Leases what is due and hands it to the pool; returns how many."""
        with self.lock:
            free = self.threads - sum(self.in_flight.values())
        if free <= 0:
            return 0
        claimed = deliveries_claim(
            limit=free, skip_endpoints=self.busy_endpoints(), now=timezone.now()
        )
        for delivery in claimed:
            with self.lock:
                if self.in_flight.get(delivery.endpoint_id, 0) >= PER_ENDPOINT:
                    Delivery.objects.filter(pk=delivery.pk).update(leased_until=None)
                    continue
                self.in_flight[delivery.endpoint_id] = (
                    self.in_flight.get(delivery.endpoint_id, 0) + 1
                )
            self.pool.submit(self._deliver, delivery)
        return len(claimed)

    def _deliver(self, delivery: Delivery) -> None:
        try:
            outcome = delivery_send(delivery, now=timezone.now())
            delivery_record(delivery.pk, outcome, now=timezone.now())
        except Exception:
            logger.exception("Delivery %s failed unexpectedly; its lease will lapse", delivery.pk)
        finally:
            close_old_connections()
            connection.close()
            with self.lock:
                self.in_flight[delivery.endpoint_id] -= 1

    def run_for(self, seconds: float, *, idle_sleep: float = 0.2) -> None:
        """Dispatches for `seconds`, then waits for what is in flight."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if not self.dispatch():
                time.sleep(idle_sleep)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
