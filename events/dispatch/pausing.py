"""A receiver's pause (`Retry-After` on a 429 or 503), written with its attempts' record
(events.dispatch.recording): the endpoint's `paused_until` and its pending deliveries held
until then."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Case, DateTimeField, Q, Value, When

from events.models import Delivery, WebhookEndpoint


def endpoints_pause(paused: dict) -> None:
    """Sets each endpoint's `paused_until` (`{endpoint id: until}`) unless it is paused longer
    already: the worker claims none of its deliveries before then, events emitted and resent
    during the pause included. One statement, under the endpoints' locks taken first."""
    WebhookEndpoint.objects.filter(
        reduce(
            or_,
            (
                Q(pk=pk) & (Q(paused_until__isnull=True) | Q(paused_until__lt=until))
                for pk, until in paused.items()
            ),
        )
    ).update(
        paused_until=Case(
            *(When(pk=pk, then=Value(until)) for pk, until in paused.items()),
            output_field=DateTimeField(),
        )
    )


def deliveries_wait(paused: dict) -> None:
    """Holds every pending delivery of an endpoint that asked for a pause (`{endpoint id:
    until}`) until then, those of this batch included; none of them counts an attempt. One
    statement; their endpoints' rows are locked already, so no other recording or endpoint
    change touches these deliveries meanwhile."""
    Delivery.objects.filter(
        reduce(or_, (Q(endpoint_id=pk, next_attempt_at__lt=until) for pk, until in paused.items())),
        status=Delivery.Status.PENDING,
    ).update(
        next_attempt_at=Case(
            *(When(endpoint_id=pk, then=Value(until)) for pk, until in paused.items()),
            output_field=DateTimeField(),
        )
    )
