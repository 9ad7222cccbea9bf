"""The clock, pause and sending shared by the test_retry_after_* modules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from events import services
from events.dispatch import (
    Outcome,
    delivery_record,
    delivery_send,
)
from events.dispatch.claiming import deliveries_claim
from events.dispatch.dispatcher import database_offset
from events.models import Delivery, WebhookEndpoint
from events.transport import webhook_session

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


PAUSE = Outcome(429, 4, "HTTP 429", retry_after=timedelta(hours=1))


def pings(endpoint: WebhookEndpoint, count: int) -> list[Delivery]:
    for _ in range(count):
        services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=NOW)
    return list(Delivery.objects.filter(endpoint=endpoint).order_by("pk"))


def send_and_record(delivery: Delivery, *, now: datetime = NOW) -> None:
    """Sent and recorded by a worker whose clock (the database's) says `now`."""
    delivery = Delivery.objects.select_related("event", "endpoint").get(pk=delivery.pk)
    with webhook_session() as session:
        outcome = delivery_send(delivery, now=now, session=session)
    delivery_record(delivery.pk, outcome, now=now)


def database_now() -> datetime:
    """The database's clock, the one the worker reads and new deliveries are due by
    (events.services.outbox): SQLite's is this machine's."""
    return timezone.now() + database_offset(timezone.now)


def no_earlier_than(at: datetime) -> datetime:
    """The worker's clock at `at`, or the database's if that is later: what staff did since
    `at` (a ping, a resend, an endpoint fixed) is due by the database's clock, whenever the
    test got there."""
    return max(at, database_now())


def due_to(endpoint: WebhookEndpoint, now: datetime) -> list[int]:
    claimed = deliveries_claim(limit=10, room={}, now=now, per_endpoint=10)
    return sorted(delivery.pk for delivery in claimed if delivery.endpoint_id == endpoint.pk)
