"""Webhook endpoints: creating and changing them, and giving up their pending deliveries
when they are turned off."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Least
from django.utils import timezone

from common.audit import staff_action_record
from common.errors import Invalid, InvalidState, NoSuchSubject
from events.addresses import url_refusal
from events.models import BACKOFF, EVENT_TYPES, Delivery, WebhookEndpoint
from events.services.outbox import database_clock

# How long an endpoint's creation or change waits for its host name to resolve (the private
# address check): the system resolver alone would hold the request's worker for 10 s or more
# per name server that does not answer.
URL_RESOLVE_TIMEOUT_SECONDS = 5
# The `disabled_reason` of an endpoint whose deletion has begun (events.services.deletion).
DELETING = "The endpoint is being deleted."
# The `last_error` of a pending delivery given up as its endpoint dropped its event type.
UNSUBSCRIBED = "The endpoint no longer subscribes to this event type."


class InvalidUrl(Invalid):
    """A webhook URL that is not https (or http where allowed), unparseable, private, or
    whose host name did not resolve within URL_RESOLVE_TIMEOUT_SECONDS."""

    code = "invalid_url"

    def __init__(self, message: str) -> None:
        super().__init__("url", message)


def event_types_checked(event_types: object) -> str:
    """`|type|type|` from a list of known event types; raises Invalid naming `event_types`."""
    if not isinstance(event_types, list) or not event_types:
        raise Invalid("event_types", "A non-empty list of event types is required.")
    unknown = sorted({str(name) for name in event_types} - set(EVENT_TYPES))
    if unknown or not all(isinstance(name, str) for name in event_types):
        raise Invalid("event_types", f"Unknown event types: {', '.join(unknown)}.")
    return "|" + "|".join(sorted(set(event_types))) + "|"


def endpoint_create(
    *, url: str, event_types: object, description: str = "", actor_id: UUID | None = None
) -> WebhookEndpoint:
    """A new endpoint with its own `whsec_` secret, recorded as `actor_id`'s (common.audit).
    Raises Invalid naming `url` (not http(s), unparseable, private, not resolved in time)
    or `event_types`."""
    _url_checked(url)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            event_types=event_types_checked(event_types),
            description=description,
            secret=new_secret(),
        )
        staff_action_record(actor_id=actor_id, instances=[endpoint], message="Added.", action="add")
    return endpoint


def endpoint_url_refusal(url: str) -> str | None:
    """Why `url` may not receive webhooks (None: it may), a host name that has not resolved
    within URL_RESOLVE_TIMEOUT_SECONDS included. The API asks it also when other fields of
    the body are refused, so that one answer names them all."""
    return url_refusal(url, timeout=URL_RESOLVE_TIMEOUT_SECONDS)


def _url_checked(url: str) -> None:
    """Raises InvalidUrl when `url` may not receive webhooks (endpoint_url_refusal)."""
    refusal = endpoint_url_refusal(url)
    if refusal:
        raise InvalidUrl(refusal)


def endpoint_update(
    *, endpoint_id: UUID, actor_id: UUID | None = None, **changes: object
) -> WebhookEndpoint:
    """Changes `url`, `event_types`, `description` or `is_active`. Turning an endpoint on from
    off, or giving it a new URL, forgets its failures: days of them at a wrong URL would
    otherwise turn it off at the first failure at the right one; it forgets a pause its
    receiver asked for (`paused_until`) too. `is_active` true sent to an
    endpoint already on keeps them: resent every few days, it would put off for ever the
    turning off of an endpoint that fails. Forgetting them also makes its pending deliveries
    due now (endpoint_deliveries_due_now): fixed, it should not wait up to 24 h for its next
    retry. Turning it off gives up its pending deliveries (so that turning it on again does
    not send a pile of old events). An endpoint being deleted
    (DELETING: between two batches of its deletion, or the deletion interrupted) is not
    turned on: the deletion, going on or sent again, removes it whatever it is. `actor_id`
    is recorded with what was sent (common.audit). Raises NotFound, Invalid, InvalidState."""
    now = timezone.now()
    if "url" in changes:
        # Before the row's lock: a slow name server holds no endpoint.
        _url_checked(str(changes["url"]))
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        if changes.get("is_active") and _being_deleted(endpoint):
            raise InvalidState("The endpoint is being deleted; delete it again to finish.")
        fixed = False
        if "url" in changes and str(changes["url"]) != endpoint.url:
            endpoint.url = str(changes["url"])
            fixed = True
        if "event_types" in changes:
            endpoint.event_types = event_types_checked(changes["event_types"])
            _unsubscribed_deliveries_fail(endpoint, now=now)
        if "description" in changes:
            endpoint.description = str(changes["description"])
        if "is_active" in changes:
            was_active, endpoint.is_active = endpoint.is_active, bool(changes["is_active"])
            if endpoint.is_active and not was_active:
                endpoint.disabled_at, endpoint.disabled_reason = None, ""
                fixed = True
            elif not endpoint.is_active:
                endpoint_deliveries_fail(
                    endpoint_id=endpoint.pk, now=now, reason="The endpoint was turned off."
                )
        if fixed:
            endpoint.failing_since, endpoint.failed_attempts = None, 0
            # A pause asked for at the old URL, or before staff said it was fixed.
            endpoint.paused_until = None
            # Its row locked first, then its deliveries: recording's order.
            endpoint_deliveries_due_now(endpoint_id=endpoint.pk, now=now)
        endpoint.save()
        # An empty change (PATCH {}) changed nothing: nothing to record.
        staff_action_record(
            actor_id=actor_id,
            instances=[endpoint] if changes else [],
            message=_changed(changes, fixed=fixed),
        )
    return endpoint


def _changed(changes: dict[str, object], *, fixed: bool) -> str:
    """What an update was sent, as its History says it: turning on is named (it forgets the
    failures and a pause)."""
    said = ", ".join(f"{name}={changes[name]!r}" for name in sorted(changes))
    return f"Changed {said}" + ("; failures and pause forgotten." if fixed else ".")


def endpoint_pause_lift(*, endpoint_id: UUID, actor_id: UUID | None = None) -> int:
    """Lifts a pause its receiver asked for (`paused_until`, a 429 or 503's `Retry-After`)
    and makes the endpoint's pending deliveries due now, for staff who know the receiver is
    ready (a mistaken `Retry-After: 86400` held it for a day). The only other ways were a new
    URL or turning it off and on, and turning it off gives up every pending delivery. Its
    failures are kept: the receiver said nothing was fixed, so an endpoint that goes on
    failing is turned off as before. Locks the endpoint, then its deliveries: recording's
    order. Returns how many deliveries were brought forward; `actor_id` is recorded with the
    lift (common.audit). Raises NotFound, InvalidState for an endpoint that is off (turning
    it on lifts the pause) or not paused."""
    now = timezone.now()
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        if not endpoint.is_active:
            raise InvalidState("The endpoint is off; turning it on again lifts its pause.")
        # Paused by the database's clock, which the worker honours the pause by: by the web
        # server's, one running slow refused to lift a pause the worker still kept.
        lifted = WebhookEndpoint.objects.filter(
            pk=endpoint.pk, paused_until__gt=database_clock(now)
        ).update(
            # Recording ignores the `Retry-After` of an attempt sent before now.
            paused_until=None,
            pause_lifted_at=now,
        )
        if not lifted:
            raise InvalidState("The endpoint is not paused.")
        staff_action_record(
            actor_id=actor_id,
            instances=[endpoint],
            message=f"Pause lifted (it was until {endpoint.paused_until.isoformat()}).",
        )
        return endpoint_deliveries_due_now(endpoint_id=endpoint.pk, now=now)


def endpoint_deliveries_due_now(*, endpoint_id: UUID, now: datetime) -> int:
    """Brings an endpoint's pending deliveries waiting for a later retry forward to `now`,
    when it has been fixed (a new URL, or turned on again): their backoff was earned at what
    was wrong, and the seller's only other way to hurry them was resending event by event.
    Each keeps its count of attempts (the attempt log goes on from it), but at most one
    short of its last: one waiting for its last attempt, brought forward, was given up by a
    single failure, before the day of retries it is promised; now a failure brought forward
    is retried after the schedule's last wait. One on its way keeps its lease, so it is not
    sent twice at once. Now is the database's clock, the worker's (database_clock; `now`
    on SQLite). Returns how many."""
    clock = database_clock(now)
    return Delivery.objects.filter(
        endpoint_id=endpoint_id, status=Delivery.Status.PENDING, next_attempt_at__gt=clock
    ).update(next_attempt_at=clock, attempts=Least("attempts", Value(len(BACKOFF) - 1)))


def endpoint_deliveries_fail(*, endpoint_id: UUID, now: datetime, reason: str) -> int:
    """Gives up an endpoint's pending deliveries when it is turned off (by staff, or after
    failing for 5 days and 20 attempts in a row): the worker never claims them while it is
    off, and turned on again it gets new events only. A delivery already on its way is sent
    once more at most; its attempt is logged, and if it arrived the delivery counts as
    delivered. Returns how many were given up."""
    return Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, completed_at=now, last_error=reason
    )


def _unsubscribed_deliveries_fail(endpoint: WebhookEndpoint, *, now: datetime) -> int:
    """Gives up the endpoint's pending deliveries of event types it no longer subscribes to
    (its `event_types` as changed, not yet saved): queued before the change, they were sent
    as events the seller had just said it did not want. A test ping is addressed to the
    endpoint, whatever its types, and stays. One on its way is sent once more at most, as
    when the endpoint is turned off. Returns how many."""
    return (
        Delivery.objects.filter(endpoint_id=endpoint.pk, status=Delivery.Status.PENDING)
        .exclude(event__type__in=[*endpoint.types, "ping"])
        .update(status=Delivery.Status.FAILED, completed_at=now, last_error=UNSUBSCRIBED)
    )


def _being_deleted(endpoint: WebhookEndpoint) -> bool:
    return not endpoint.is_active and endpoint.disabled_reason == DELETING


def new_secret() -> str:
    """`whsec_` and the base64 of 24 random bytes, as the Standard Webhooks scheme expects."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class NoSuchEndpoint(NoSuchSubject):
    """The path names no endpoint: a test ping's Idempotency-Key stays free for the right
    one, as for any refusal the client corrects."""

    default_message = "No webhook endpoint with this id."


def _locked(endpoint_id: UUID) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    except WebhookEndpoint.DoesNotExist as error:
        raise NoSuchEndpoint() from error
