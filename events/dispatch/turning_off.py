"""Endpoints the worker turns off as it records their attempts (events.dispatch.recording):
one that answered 410 Gone, and one whose deliveries have all failed for days. Each gives up
its pending deliveries, as staff turning it off would, and says so to the operator once
committed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction

from events import services
from events.models import WebhookEndpoint

DISABLE_AFTER = timedelta(days=5)
# And at least this many attempts failed in a row: more than two deliveries' whole schedules
# (9 attempts each), so that an endpoint sent an event a week is not turned off by the first
# failed attempt of the event after one that was given up (its failures span 5 days by then).
DISABLE_AFTER_FAILURES = 20
# The answer by which an endpoint says it wants no more webhooks (Standard Webhooks,
# "Delivery success and failure"): it is turned off at once, not retried.
GONE = 410
GONE_REASON = (
    "The endpoint answered 410 Gone: it wants no more events. Turn it on again to send it new ones."
)

# The worker's record of the attempts logs what it turns off.
logger = logging.getLogger("events.dispatch.recording")


def endpoint_turn_off_if_failing_too_long(endpoint_id, now: datetime) -> None:
    """Turns the endpoint off once its failures span DISABLE_AFTER and number at least
    DISABLE_AFTER_FAILURES in a row: the span alone turned a quiet endpoint off at the first
    failed attempt of an event sent days after the last one given up."""
    failing = WebhookEndpoint.objects.filter(
        pk=endpoint_id,
        is_active=True,
        failing_since__lte=now - DISABLE_AFTER,
        failed_attempts__gte=DISABLE_AFTER_FAILURES,
    )
    if failing.update(
        is_active=False,
        disabled_at=now,
        disabled_reason="Every delivery failed for 5 days; turn it on again once it answers.",
    ):
        given_up = services.endpoint_deliveries_fail(
            endpoint_id=endpoint_id, now=now, reason="The endpoint was disabled."
        )
        # For the operator, once it is so: the endpoint's id, never its URL (it may carry a
        # token of the seller's).
        transaction.on_commit(
            lambda: logger.warning(
                "Webhook endpoint %s turned off: every delivery failed for 5 days; %d pending "
                "deliveries given up. Turn it on again once it answers.",
                endpoint_id,
                given_up,
            )
        )


def endpoint_turn_off_gone(endpoint_id, now: datetime) -> None:
    """Turns off an endpoint that answered 410 Gone and gives up its pending deliveries, as
    staff turning it off would (its row is locked already)."""
    if WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=GONE_REASON
    ):
        given_up = services.endpoint_deliveries_fail(
            endpoint_id=endpoint_id, now=now, reason="The endpoint answered 410 Gone."
        )
        transaction.on_commit(
            lambda: logger.warning(
                "Webhook endpoint %s turned off: it answered 410 Gone; %d pending deliveries "
                "given up.",
                endpoint_id,
                given_up,
            )
        )
