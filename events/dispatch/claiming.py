"""Leasing the deliveries that are due, fairly between endpoints."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from events.models import Delivery


def deliveries_claim(
    *,
    limit: int,
    room: dict,
    now: datetime,
    per_endpoint: int,
    in_flight: Collection[int] = (),
) -> list[Delivery]:
    """Leases up to `limit` due deliveries of active endpoints, oldest due first, at most
    `room.get(endpoint, per_endpoint)` per endpoint, none of an endpoint paused by its
    receiver's `Retry-After`, none of `in_flight` (the caller's own
    attempts not yet recorded: a lease that lapsed under them must not send them twice).
    Concurrent workers skip each other's rows (SKIP LOCKED on PostgreSQL; SQLite's write
    lock serializes them)."""
    due = (
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True
        )
        .exclude(leased_until__gt=now)
        # The receiver asked for nothing before then: new events and resends wait too.
        .exclude(endpoint__paused_until__gt=now)
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
