"""Putting events back on their way: a ping to one endpoint, an event resent."""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.db.models import Case, DateTimeField, When
from django.utils import timezone

from common.audit import staff_action_record
from common.errors import InvalidState, NotFound
from events.models import Delivery, Event, WebhookEndpoint
from events.services.endpoints import _being_deleted, _locked, subscribes
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


@transaction.atomic
def event_resend(*, event_id: UUID, actor_id: UUID | None = None) -> int:
    """Puts an event's deliveries back on their way now (also delivered or failed ones, to
    endpoints still active), each with the whole retry schedule ahead of it again: a given-up
    delivery resent keeps its count of attempts otherwise, and its first failure gives it up
    at once. One on its way (leased) keeps its lease: cleared, another worker took it at once
    and the endpoint got the event twice at the same time; the attempt on its way counts as
    the resend's first (a failure is retried 5 s later, a lease that lapses is taken again),
    but its answer, or that of one sent under a lease that lapsed, predates the resend
    (`resent_at`): its 410 or `Retry-After` no longer turns the endpoint off or pauses it.
    Returns how many; `actor_id` is recorded on the event (common.audit). Raises NotFound.
    To an endpoint its receiver paused (`Retry-After`)
    they go once the pause ends: the worker claims nothing of it before.

    Only to endpoints that still subscribe to the event's type (a ping to any): one that
    dropped it has said it no longer wants it.

    Locks the event's endpoints first, in the order recording outcomes takes them, and
    resends to those on once locked: read unlocked, an endpoint turned off (or being
    deleted) meanwhile got a pending delivery its turning off had not given up, sent as an
    old event once it was on again."""
    event_type = Event.objects.filter(pk=event_id).values_list("type", flat=True).first()
    if event_type is None:
        raise NotFound("No event with this id.")
    of_the_event = Delivery.objects.filter(event_id=event_id).values("endpoint_id")
    active = list(
        WebhookEndpoint.objects.select_for_update(no_key=True)
        .filter(pk__in=of_the_event)
        .order_by("pk")
        .values_list("pk", "is_active", "event_types", "paused_until")
    )
    now = timezone.now()
    wanted = [pk for pk, on, types, _ in active if on and subscribes(types, event_type)]
    # Whether a pause is over is the database's clock's to say, in the UPDATE (due_from_clock).
    paused = [(pk, until) for pk, _, _, until in active if pk in wanted and until]
    queued = Delivery.objects.filter(event_id=event_id, endpoint_id__in=wanted).update(
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
    if not queued and not Event.objects.filter(pk=event_id).exists():
        # The purge of old events deleted it after the read above (this update waited for
        # its locks on the deliveries, and found them gone): not "0 queued".
        raise NotFound("No event with this id.")
    # None queued changed nothing: nothing to record, as a key revoked again.
    resent = [Event(pk=event_id, type=event_type)] if queued else []
    staff_action_record(actor_id=actor_id, instances=resent, message=f"Resent: {queued} queued.")
    return queued
