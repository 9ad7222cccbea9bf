"""Letting old events go, with their deliveries and attempts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from events.models import Delivery, Event

# Events looked at per transaction by the purge.
PURGE_BATCH = 1_000


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
        # The bound on created_at alone is what PostgreSQL can seek events_event_created to;
        # with the OR only, each batch read the index from the oldest event again, past
        # every event kept so far (a delivery still on its way, one held).
        after = Q(created_at__gte=last_created) & (
            Q(created_at__gt=last_created) | Q(created_at=last_created, pk__gt=last_id)
        )
