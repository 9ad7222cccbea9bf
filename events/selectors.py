"""Reads of the events app."""

from __future__ import annotations

from uuid import UUID

from django.db.models import F, QuerySet

from common.errors import NotFound
from events.models import DeliveryAttempt, WebhookEndpoint


def endpoint_get(*, endpoint_id: UUID) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.get(pk=endpoint_id)
    except WebhookEndpoint.DoesNotExist as error:
        raise NotFound("No webhook endpoint with this id.") from error


def endpoints_list() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.order_by("-created_at", "-id")


def endpoints_failing() -> QuerySet[WebhookEndpoint]:
    """Disabled ones, and active ones whose deliveries have been failing: the longest
    failing first, then those without failures (turned off, being deleted), on every
    database (SQLite sorts NULLs first, PostgreSQL last)."""
    disabled = WebhookEndpoint.objects.filter(disabled_at__isnull=False)
    failing = WebhookEndpoint.objects.filter(failing_since__isnull=False)
    return (disabled | failing).order_by(F("failing_since").asc(nulls_last=True), "pk")


def attempts_of_endpoint(*, endpoint_id: UUID) -> QuerySet[DeliveryAttempt]:
    endpoint_get(endpoint_id=endpoint_id)
    return (
        DeliveryAttempt.objects.filter(delivery__endpoint_id=endpoint_id)
        .select_related("delivery__event")
        .order_by("-created_at", "-id")
    )
