"""The outbox: events written in the caller's transaction with a pending delivery for every
active endpoint that wants them; the worker sends them after commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DateTimeField, Expression, Value
from django.db.models.functions import Greatest, Now
from django.utils import timezone

from common.api.fields import api_time
from common.db import fetched, require_transaction
from events.models import EVENT_TYPES, Delivery, Event, WebhookEndpoint

EVENTS = Event._meta.db_table
DELIVERIES = Delivery._meta.db_table
ENDPOINTS = WebhookEndpoint._meta.db_table


@dataclass(frozen=True)
class Notice:
    """An event to emit: its type (one of EVENT_TYPES) and its JSON-ready data."""

    type: str
    data: dict


def events_emit(notices: Sequence[Notice], *, now: datetime | None = None) -> list[UUID]:
    """Writes the events and a pending delivery for every active endpoint that wants each,
    inside the caller's transaction: a rolled-back change emits nothing, a committed one is
    never lost. The worker sends them after commit, after any pause the endpoint's receiver
    asked for (due_from). One statement on PostgreSQL (two on
    SQLite) however many events and endpoints.

    On PostgreSQL the endpoints it delivers to are locked FOR KEY SHARE as they are read: a
    delivery's foreign key is checked only at commit, so an endpoint deleted (or turned off)
    by a transaction committing meanwhile failed the caller's whole change there. Now such a
    deletion waits for the change, or the change waits for it and leaves that endpoint out
    (FOR NO KEY UPDATE, which recording outcomes takes, does not wait).

    The deliveries are due by the database's clock (PostgreSQL's statement_timestamp(), in
    the same statement), the one the worker judges due-ness by (Dispatcher.now): stamped by
    the web server's own clock, one running minutes fast held every event it emitted back
    that long, behind events other servers emitted after them. `now` (the web's clock, as
    the rest of the caller's change) stamps when the event was made, `created_at`."""
    require_transaction("events_emit")
    if not notices:
        return []
    unknown = {notice.type for notice in notices} - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"Unknown event types: {sorted(unknown)}")
    now = now or timezone.now()
    rows = [(uuid.uuid4(), n.type, json.dumps(n.data, default=_json_value)) for n in notices]
    database = connections[DEFAULT_DB_ALIAS]
    if database.vendor == "postgresql":
        values = ", ".join(["(%s::uuid, %s, %s::jsonb)"] * len(rows))
        sql = f"""
WITH new (id, type, data) AS (VALUES {values}),
stored AS (
    INSERT INTO {EVENTS} (id, type, data, created_at) SELECT id, type, data, %s FROM new
    RETURNING id, type
),
endpoint AS (
    SELECT id, event_types, paused_until FROM {ENDPOINTS}
    WHERE is_active
        AND EXISTS (SELECT FROM new WHERE event_types LIKE '%%|' || new.type || '|%%')
    FOR KEY SHARE
)
INSERT INTO {DELIVERIES} (event_id, endpoint_id, status, attempts, next_attempt_at,
    last_error, created_at)
SELECT stored.id, endpoint.id, 'pending', 0,
    GREATEST(statement_timestamp(), endpoint.paused_until), '', %s
FROM stored JOIN endpoint ON endpoint.event_types LIKE '%%|' || stored.type || '|%%'
"""  # noqa: S608 (table names come from the models, values are parameters)
        fetched(sql, [value for row in rows for value in row] + [now, now], database)
    else:
        Event.objects.bulk_create(
            Event(id=event_id, type=kind, data=json.loads(data), created_at=now)
            for event_id, kind, data in rows
        )
        # SQLite's database is a file on this machine: its clock is this one's.
        _deliveries_for([event_id for event_id, _, _ in rows], now)
    return [event_id for event_id, _, _ in rows]


def _deliveries_for(event_ids: list[UUID], now: datetime) -> None:
    events = Event.objects.filter(pk__in=event_ids)
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    Delivery.objects.bulk_create(
        Delivery(
            event=event,
            endpoint=endpoint,
            next_attempt_at=due_from(endpoint, now),
            created_at=now,
        )
        for event in events
        for endpoint in endpoints
        if event.type in endpoint.types
    )


def due_from(endpoint: WebhookEndpoint, now: datetime) -> datetime:
    """When a delivery made for `endpoint` at `now` is due: once the pause its receiver asked
    for (`paused_until`, a `Retry-After`) has ended. Due at once, it showed a time it would
    not go at, and every claim walked past it (events.dispatch.claiming)."""
    return max(now, endpoint.paused_until or now)


def database_clock(now: datetime | None = None) -> Expression:
    """The database's clock, read by the statement it is written into: the clock the worker
    judges due-ness by (events.dispatch.Dispatcher.now). Staff's pings, resends and fixes
    stamped by the web server's own clock went as late as that server ran fast, and a pause
    the worker still honoured could not be lifted from a server running slow. On PostgreSQL
    STATEMENT_TIMESTAMP() (Django's Now()), in the same statement: no round trip. SQLite's
    database is a file on this machine, whose clock is the database's: `now`, or this
    machine's clock."""
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return Now()
    return Value(now or timezone.now(), output_field=DateTimeField())


def due_from_clock(paused_until: datetime | None, now: datetime | None = None) -> Expression:
    """due_from by the database's clock (`now` on SQLite), in the statement that writes it."""
    clock = database_clock(now)
    if paused_until is None:
        return clock
    return Greatest(clock, Value(paused_until, output_field=DateTimeField()))


def _json_value(value: object) -> str:
    """An event's data as the API writes the same values: times in UTC to the second with a
    `Z` (docs/api.md, Conventions), amounts and ids as strings."""
    if isinstance(value, datetime):
        return api_time(value)
    return str(value)
