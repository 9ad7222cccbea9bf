"""Writes of the events app: the outbox (emit), endpoints (create, change, rotate, remove),
putting events back on their way (resend, test), and letting old ones go (purge)."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from common.api.fields import api_time
from common.db import require_transaction
from common.errors import Invalid, NotFound
from events.addresses import url_refusal
from events.models import EVENT_TYPES, Delivery, DeliveryAttempt, Event, WebhookEndpoint

SECRET_OVERLAP = timedelta(hours=24)
# Rotated-out secrets kept signing at once (each adds a signature to every delivery).
MAX_PREVIOUS_SECRETS = 5
# Events looked at per transaction by the purge.
PURGE_BATCH = 1_000
EVENTS = Event._meta.db_table
DELIVERIES = Delivery._meta.db_table
ENDPOINTS = WebhookEndpoint._meta.db_table
# How long an endpoint's creation or change waits for its host name to resolve (the private
# address check): the system resolver alone would hold the request's worker for 10 s or more
# per name server that does not answer.
URL_RESOLVE_TIMEOUT_SECONDS = 5


class InvalidUrl(Invalid):
    """A webhook URL that is not https (or http where allowed), unparseable, private, or
    whose host name did not resolve within URL_RESOLVE_TIMEOUT_SECONDS."""

    code = "invalid_url"

    def __init__(self, message: str) -> None:
        super().__init__("url", message)


@dataclass(frozen=True)
class Notice:
    """An event to emit: its type (one of EVENT_TYPES) and its JSON-ready data."""

    type: str
    data: dict


def events_emit(notices: Sequence[Notice], *, now: datetime | None = None) -> list[UUID]:
    """Writes the events and a pending delivery for every active endpoint that wants each,
    inside the caller's transaction: a rolled-back change emits nothing, a committed one is
    never lost. The worker sends them after commit. One statement on PostgreSQL (two on
    SQLite) however many events and endpoints.

    On PostgreSQL the endpoints it delivers to are locked FOR KEY SHARE as they are read: a
    delivery's foreign key is checked only at commit, so an endpoint deleted (or turned off)
    by a transaction committing meanwhile failed the caller's whole change there. Now such a
    deletion waits for the change, or the change waits for it and leaves that endpoint out
    (FOR NO KEY UPDATE, which recording outcomes takes, does not wait)."""
    require_transaction("events_emit")
    if not notices:
        return []
    unknown = {notice.type for notice in notices} - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"Unknown event types: {sorted(unknown)}")
    now = now or timezone.now()
    rows = [(uuid.uuid4(), n.type, json.dumps(n.data, default=_json_value)) for n in notices]
    if connection.vendor == "postgresql":
        values = ", ".join(["(%s::uuid, %s, %s::jsonb)"] * len(rows))
        sql = f"""
WITH new (id, type, data) AS (VALUES {values}),
stored AS (
    INSERT INTO {EVENTS} (id, type, data, created_at) SELECT id, type, data, %s FROM new
    RETURNING id, type
),
endpoint AS (
    SELECT id, event_types FROM {ENDPOINTS}
    WHERE is_active
        AND EXISTS (SELECT FROM new WHERE event_types LIKE '%%|' || new.type || '|%%')
    FOR KEY SHARE
)
INSERT INTO {DELIVERIES} (event_id, endpoint_id, status, attempts, next_attempt_at,
    last_error, created_at)
SELECT stored.id, endpoint.id, 'pending', 0, %s, '', %s
FROM stored JOIN endpoint ON endpoint.event_types LIKE '%%|' || stored.type || '|%%'
"""  # noqa: S608 (table names come from the models, values are parameters)
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row in rows for value in row] + [now, now, now])
    else:
        Event.objects.bulk_create(
            Event(id=event_id, type=kind, data=json.loads(data), created_at=now)
            for event_id, kind, data in rows
        )
        _deliveries_for([event_id for event_id, _, _ in rows], now)
    return [event_id for event_id, _, _ in rows]


def _deliveries_for(event_ids: list[UUID], now: datetime) -> None:
    events = Event.objects.filter(pk__in=event_ids)
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    Delivery.objects.bulk_create(
        Delivery(event=event, endpoint=endpoint, next_attempt_at=now, created_at=now)
        for event in events
        for endpoint in endpoints
        if event.type in endpoint.types
    )


def event_types_checked(event_types: object) -> str:
    """`|type|type|` from a list of known event types; raises Invalid naming `event_types`."""
    if not isinstance(event_types, list) or not event_types:
        raise Invalid("event_types", "A non-empty list of event types is required.")
    unknown = sorted({str(name) for name in event_types} - set(EVENT_TYPES))
    if unknown or not all(isinstance(name, str) for name in event_types):
        raise Invalid("event_types", f"Unknown event types: {', '.join(unknown)}.")
    return "|" + "|".join(sorted(set(event_types))) + "|"


def _json_value(value: object) -> str:
    """An event's data as the API writes the same values: times in UTC to the second with a
    `Z` (docs/api.md, Conventions), amounts and ids as strings."""
    if isinstance(value, datetime):
        return api_time(value)
    return str(value)


def endpoint_create(*, url: str, event_types: object, description: str = "") -> WebhookEndpoint:
    """A new endpoint with its own `whsec_` secret. Raises Invalid naming `url` (not http(s),
    unparseable, private, not resolved in time) or `event_types`."""
    _url_checked(url)
    return WebhookEndpoint.objects.create(
        url=url,
        event_types=event_types_checked(event_types),
        description=description,
        secret=new_secret(),
    )


def _url_checked(url: str) -> None:
    """Raises InvalidUrl when `url` may not receive webhooks, a host name that has not
    resolved within URL_RESOLVE_TIMEOUT_SECONDS included."""
    refusal = url_refusal(url, timeout=URL_RESOLVE_TIMEOUT_SECONDS)
    if refusal:
        raise InvalidUrl(refusal)


def endpoint_update(*, endpoint_id: UUID, **changes: object) -> WebhookEndpoint:
    """Changes `url`, `event_types`, `description` or `is_active`; turning an endpoint on again
    or giving it a new URL forgets its failures (days of them at a wrong URL would otherwise
    turn it off at the first failure at the right one), turning it off gives up its pending
    deliveries (so that turning it on again does not send a pile of old events). Raises
    NotFound, Invalid."""
    now = timezone.now()
    if "url" in changes:
        # Before the row's lock: a slow name server holds no endpoint.
        _url_checked(str(changes["url"]))
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        if "url" in changes and str(changes["url"]) != endpoint.url:
            endpoint.url = str(changes["url"])
            endpoint.failing_since = None
        if "event_types" in changes:
            endpoint.event_types = event_types_checked(changes["event_types"])
        if "description" in changes:
            endpoint.description = str(changes["description"])
        if "is_active" in changes:
            endpoint.is_active = bool(changes["is_active"])
            if endpoint.is_active:
                endpoint.disabled_at, endpoint.disabled_reason = None, ""
                endpoint.failing_since = None
            else:
                endpoint_deliveries_fail(
                    endpoint_id=endpoint.pk, now=now, reason="The endpoint was turned off."
                )
        endpoint.save()
    return endpoint


def endpoint_deliveries_fail(*, endpoint_id: UUID, now: datetime, reason: str) -> int:
    """Gives up an endpoint's pending deliveries when it is turned off (by staff, or after
    failing for 5 days): the worker never claims them while it is off, and turned on again it
    gets new events only. A delivery already on its way is sent once more at most; its
    attempt is logged, and if it arrived the delivery counts as delivered. Returns how many
    were given up."""
    return Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, completed_at=now, last_error=reason
    )


def endpoint_rotate_secret(*, endpoint_id: UUID, now: datetime | None = None) -> WebhookEndpoint:
    """A new secret; every secret rotated out keeps signing beside it for 24 h, also when
    another rotation follows within them (a retried one, or a second staff member's): a
    receiver still on the first would otherwise refuse every delivery at once. At most
    MAX_PREVIOUS_SECRETS, the newest. Raises NotFound."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        still_signing = [
            {"secret": secret, "until": until.isoformat()}
            for secret, until in previous_secrets_signing(endpoint, now)
        ]
        rotated_out = {"secret": endpoint.secret, "until": (now + SECRET_OVERLAP).isoformat()}
        endpoint.previous_secrets = [*still_signing, rotated_out][-MAX_PREVIOUS_SECRETS:]
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret", "previous_secrets"])
    return endpoint


def previous_secrets_signing(
    endpoint: WebhookEndpoint, now: datetime
) -> list[tuple[str, datetime]]:
    """The secrets rotated out that still sign at `now`, oldest first, with their end."""
    signing = []
    for previous in endpoint.previous_secrets:
        until = datetime.fromisoformat(previous["until"])
        if until > now:
            signing.append((previous["secret"], until))
    return signing


@transaction.atomic
def endpoint_delete(*, endpoint_id: UUID) -> None:
    """Removes an endpoint and its deliveries, locking the endpoint first: recording
    outcomes (deliveries_record) takes the same order. The attempts and the deliveries go in
    a statement each that names the endpoint: Django's delete loaded every delivery's id and
    sent them in one `IN (...)`, which PostgreSQL refuses past 65,535 parameters (a month of
    a busy endpoint's deliveries). Raises NotFound."""
    endpoint = _locked(endpoint_id)
    DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DELIVERIES} WHERE endpoint_id = %s",  # noqa: S608 (the model's table)
            [WebhookEndpoint._meta.pk.get_db_prep_value(endpoint.pk, connection)],
        )
    endpoint.delete()


@transaction.atomic
def endpoint_ping(*, endpoint_id: UUID) -> Event:
    """A `ping` event for this endpoint only. Raises NotFound."""
    endpoint = _locked(endpoint_id)
    event = Event.objects.create(type="ping", data={"endpoint_id": str(endpoint.pk)})
    Delivery.objects.create(event=event, endpoint=endpoint)
    return event


@transaction.atomic
def event_resend(*, event_id: UUID) -> int:
    """Puts an event's deliveries back on their way now (also delivered or failed ones, to
    endpoints still active), each with the whole retry schedule ahead of it again: a given-up
    delivery resent keeps its count of attempts otherwise, and its first failure gives it up
    at once. Returns how many. Raises NotFound."""
    if not Event.objects.filter(pk=event_id).exists():
        raise NotFound("No event with this id.")
    return Delivery.objects.filter(event_id=event_id, endpoint__is_active=True).update(
        status=Delivery.Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        leased_until=None,
        completed_at=None,
    )


def events_purge(*, older_than: datetime) -> int:
    """Deletes the events made before `older_than` whose every delivery has finished, with
    their deliveries and attempts, so that the outbox does not grow for ever; returns how
    many events. In batches, each its own transaction, oldest first. An event is taken whole
    or not at all: a delivery still on its way keeps it and its other deliveries (it may be
    resent as a whole), and so does a delivery another transaction holds (being resent, its
    endpoint being deleted), which is passed by, never waited for: the event goes on a later
    run."""
    purged = 0
    after = Q()
    while True:
        with transaction.atomic():
            batch = list(
                Event.objects.filter(after, created_at__lt=older_than)
                .order_by("created_at", "pk")
                .values_list("created_at", "pk")[:PURGE_BATCH]
            )
            if not batch:
                return purged
            ids = [pk for _, pk in batch]
            deliveries = Delivery.objects.filter(event_id__in=ids)
            locked = list(
                deliveries.select_for_update(skip_locked=True).values_list("event_id", "status")
            )
            every = Counter(deliveries.values_list("event_id", flat=True))
            held = Counter(event_id for event_id, _ in locked)
            waiting = {event_id for event_id, status in locked if status == Delivery.Status.PENDING}
            whole = [
                event_id
                for event_id, count in every.items()
                if held[event_id] == count and event_id not in waiting
            ]
            Delivery.objects.filter(event_id__in=whole).delete()
            unheld = Event.objects.filter(pk__in=ids).exclude(
                Exists(Delivery.objects.filter(event=OuterRef("pk")))
            )
            purged += unheld.delete()[1].get(Event._meta.label, 0)
        last_created, last_id = batch[-1]
        after = Q(created_at__gt=last_created) | Q(created_at=last_created, pk__gt=last_id)


def new_secret() -> str:
    """`whsec_` and the base64 of 24 random bytes, as the Standard Webhooks scheme expects."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _locked(endpoint_id: UUID) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    except WebhookEndpoint.DoesNotExist as error:
        raise NotFound("No webhook endpoint with this id.") from error
