"""An endpoint's successes, written with its attempts' record (events.dispatch.recording):
its failures forgotten, and when its newest attempt answered 2xx was sent, by which older
answers are told from newer ones. Only answers heard at the endpoint's URL as it is now
count: an old URL's 2xx is the old receiver's word."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest

from events.dispatch.sending import Outcome
from events.models import WebhookEndpoint


def endpoints_succeeded(succeeded: set, newest: dict) -> None:
    """Clears the failures of the endpoints in `succeeded` and moves their `delivered_sent_at`
    on to `newest` (`{endpoint id: when its attempt answered 2xx was sent}`, where known),
    never back: a failure sent before then and recorded after it, by another worker, is then
    told from one in a row. One statement, under the endpoints' locks taken first; an
    endpoint with nothing to change is left unwritten."""
    changes = (
        Q(pk=pk) & (Q(delivered_sent_at__isnull=True) | Q(delivered_sent_at__lt=at))
        for pk, at in newest.items()
    )
    WebhookEndpoint.objects.filter(pk__in=succeeded).filter(
        reduce(or_, changes, Q(failing_since__isnull=False) | Q(failed_attempts__gt=0))
    ).update(
        failing_since=None,
        failed_attempts=0,
        delivered_sent_at=Case(
            *(
                When(pk=pk, then=Greatest(Coalesce("delivered_sent_at", Value(at)), Value(at)))
                for pk, at in newest.items()
            ),
            default=F("delivered_sent_at"),
            output_field=DateTimeField(),
        ),
    )


def newest_delivered(
    outcomes: list[tuple], deliveries: dict, delivered_sent_at: dict, urls: dict
) -> tuple:
    """`(newest, last)`: when each endpoint's newest attempt of the batch answered 2xx was
    sent, and the later of that and its `delivered_sent_at` (`{endpoint id: when}`). Read
    before any outcome is weighed, as a 2xx later in the batch than an older 410 or
    `Retry-After` is the receiver's newer word all the same. A 2xx heard at a URL the
    endpoint no longer has (`urls`: `{endpoint id: its URL now}`) is the old receiver's word:
    it says nothing of the one at the new URL."""
    newest: dict = {}
    for delivery_id, outcome, *_ in outcomes:
        sent, delivery = outcome.sent_at, deliveries.get(delivery_id)
        if not outcome.delivered or sent is None or delivery is None:
            continue
        if heard_elsewhere(outcome, urls[delivery.endpoint_id]):
            continue
        newest[delivery.endpoint_id] = max(newest.get(delivery.endpoint_id, sent), sent)
    last = {pk: at for pk, at in delivered_sent_at.items() if at is not None}
    for pk, at in newest.items():
        last[pk] = max(last.get(pk, at), at)
    return newest, last


def heard_elsewhere(outcome: Outcome, url: str) -> bool:
    """Whether the attempt went to a URL other than `url`, its endpoint's now (staff gave it
    a new one while the attempt was on its way): its answer says nothing of the endpoint as
    it is now. None (where it went is not known) is taken as the endpoint's."""
    return outcome.url is not None and outcome.url != url
