"""Putting events back on their way: a ping to one endpoint, an event resent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import OperationalError, connection, transaction
from django.db.models import Case, Count, DateTimeField, Q, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from common.audit import staff_action_record
from common.db import database_busy
from common.errors import InvalidState, NotFound
from events.models import Delivery, Event, WebhookEndpoint
from events.services.endpoints import _being_deleted, _locked
from events.services.outbox import database_clock, due_from_clock


@transaction.atomic
def endpoint_ping(*, endpoint_id: UUID, actor_id: UUID | None = None) -> Event:
    """A `ping` event for this endpoint only; to an endpoint that is off it waits until it is
    on again. An endpoint being deleted is never on again (endpoint_update), so its ping
    would never be sent: refused. `actor_id` is recorded on the endpoint (common.audit).
    Raises NotFound, InvalidState."""
    endpoint = _locked(endpoint_id)
    if _being_deleted(endpoint):
        raise InvalidState(
            "The endpoint is being deleted; a test would never be sent. Delete it again to finish."
        )
    event = Event.objects.create(type="ping", data={"endpoint_id": str(endpoint.pk)})
    # Due by the database's clock, the worker's (database_clock), in the INSERT itself.
    Delivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at=due_from_clock(endpoint.paused_until)
    )
    staff_action_record(actor_id=actor_id, instances=[endpoint], message=f"Test ping {event.pk}.")
    return event


# Events resent per transaction by events_resend: each batch holds its deliveries (a few
# thousand rows) for a fraction of a second, and a selection of any size takes a few
# statements per thousand events, where one transaction per event took 50,000 statements
# for 10,000 events, past gunicorn's 30 s, killed part way.
RESEND_BATCH = 1_000


@dataclass(frozen=True)
class Resent:
    """What a resend of many events did: `events` found (resent to every active endpoint
    that wants them, none perhaps), `queued` deliveries, `gone`: not found (deleted by the
    purge of old events), `left`: not resent, the database too busy for their batch after
    the batches before it had committed, and `unsent`: found but queued to no endpoint (the
    endpoints they went to are off, or no longer take their type)."""

    events: int
    queued: int
    gone: int
    left: int = 0
    unsent: int = 0


def event_resend(*, event_id: UUID, actor_id: UUID | None = None) -> int:
    """Puts an event's deliveries back on their way now (see events_resend) and returns how
    many; `actor_id` is recorded on the event (common.audit). Raises NotFound, also when the
    purge of old events deletes it meanwhile (not "0 queued")."""
    resent = events_resend(event_ids=[event_id], actor_id=actor_id)
    if resent.gone:
        raise NotFound("No event with this id.")
    return resent.queued


def events_resend(*, event_ids: Sequence[UUID], actor_id: UUID | None = None) -> Resent:
    """Puts the events' deliveries back on their way now (also delivered or failed ones, to
    endpoints still active), each with the whole retry schedule ahead of it again: a
    given-up delivery resent keeps its count of attempts otherwise, and its first failure
    gives it up at once. One on its way (leased) keeps its lease: cleared, another worker
    took it at once and the endpoint got the event twice at the same time; the attempt on
    its way counts as the resend's first (a failure is retried 5 s later, a lease that lapses
    is taken again), but its answer, or that of one sent under a lease that lapsed, predates
    the resend (`resent_at`): its 410 or `Retry-After` no longer turns the endpoint off or
    pauses it. To an endpoint its receiver paused (`Retry-After`) they go once the pause
    ends: the worker claims nothing of it before. `actor_id` is recorded on each event
    resent (common.audit).

    Only to endpoints that still subscribe to the event's type (a ping to any): one that
    dropped it has said it no longer wants it.

    RESEND_BATCH events per transaction, in a fixed number of statements each. Each locks
    the events' endpoints first, in the order recording outcomes takes them, and resends to
    those on once locked: read unlocked, an endpoint turned off (or being deleted)
    meanwhile got a pending delivery its turning off had not given up, sent as an old event
    once it was on again. An event the purge deletes before its batch is counted `gone`.

    A batch the database is too busy for (a lock held past the lock timeout) after others
    have committed ends the resend: the events from it on are counted `left`, so that staff
    are told which part was resent, where the busy page said nothing was. The busy error of
    the first batch (nothing done yet), or inside a caller's transaction (broken by it), is
    raised."""
    events = queued = gone = unsent = 0
    for start in range(0, len(event_ids), RESEND_BATCH):
        try:
            batch = _batch_resend(list(event_ids[start : start + RESEND_BATCH]), actor_id)
        except OperationalError as error:
            if not start or not database_busy(error) or connection.in_atomic_block:
                raise
            left = len(event_ids) - start
            return Resent(events=events, queued=queued, gone=gone, left=left, unsent=unsent)
        events, queued, gone = events + batch.events, queued + batch.queued, gone + batch.gone
        unsent += batch.unsent
    return Resent(events=events, queued=queued, gone=gone, unsent=unsent)


@transaction.atomic
def _batch_resend(event_ids: list[UUID], actor_id: UUID | None) -> Resent:
    of_the_events = Delivery.objects.filter(event_id__in=event_ids).values("endpoint_id")
    # Whether each is on is read once locked (one being turned on waited for).
    active = [
        (pk, until)
        for pk, on, until in WebhookEndpoint.objects.select_for_update(no_key=True)
        .filter(pk__in=of_the_events)
        .order_by("pk")
        .values_list("pk", "is_active", "paused_until")
        if on
    ]
    now = timezone.now()
    # Whether a pause is over is the database's clock's to say, in the UPDATE (due_from_clock).
    paused = [(pk, until) for pk, until in active if until]
    queued = (
        Delivery.objects.filter(event_id__in=event_ids, endpoint_id__in=[pk for pk, _ in active])
        # The endpoint subscribes to the event's type (a test ping goes to any endpoint).
        .filter(
            Q(event__type="ping")
            | Q(endpoint__event_types__contains=Concat(Value("|"), "event__type", Value("|")))
        )
        .update(
            status=Delivery.Status.PENDING,
            attempts=0,
            # After the pause its receiver asked for, if any (events.services.outbox.due_from).
            next_attempt_at=Case(
                *(When(endpoint_id=pk, then=due_from_clock(until, now)) for pk, until in paused),
                default=database_clock(now),
                output_field=DateTimeField(),
            ),
            completed_at=None,
            # Answers to attempts sent before now no longer speak of the endpoint.
            resent_at=now,
        )
    )
    # Read once the update has had its locks: an event the purge deleted meanwhile (the
    # update waited for its deliveries, and found them gone) is gone, not "0 queued". Each
    # one's deliveries resent are those stamped now, which this transaction holds.
    found = list(
        Event.objects.filter(pk__in=event_ids)
        .annotate(queued=Count("deliveries", filter=Q(deliveries__resent_at=now)))
        .values_list("pk", "type", "queued")
    )
    # None queued changed nothing: nothing to record, as a key revoked again.
    by_count: dict[int, list[Event]] = {}
    for pk, event_type, count in found:
        if count:
            by_count.setdefault(count, []).append(Event(pk=pk, type=event_type))
    for count, events in by_count.items():
        staff_action_record(actor_id=actor_id, instances=events, message=f"Resent: {count} queued.")
    return Resent(
        events=len(found),
        queued=queued,
        gone=len(event_ids) - len(found),
        unsent=sum(1 for *_, count in found if not count),
    )
