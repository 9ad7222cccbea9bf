"""A user's usage and holds."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db.models import Q, QuerySet

from common.errors import NotFound
from tokens.models import Hold, UsageRecord


def usage_of_user(
    *,
    user_id: UUID,
    feature: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[UsageRecord]:
    """The user's usage, newest first, with what paid for each (prefetched: two queries)."""
    usage = UsageRecord.objects.filter(account__user_id=user_id).prefetch_related(
        "entry__allocations__lot"
    )
    if feature:
        usage = usage.filter(feature=feature)
    if created_after:
        usage = usage.filter(created_at__gte=created_after)
    if created_before:
        usage = usage.filter(created_at__lt=created_before)
    return usage.order_by("-created_at", "-id")


def holds_of_user(*, user_id: UUID, status: str | None = None, now: datetime) -> QuerySet[Hold]:
    """The user's holds, newest first. An active hold past its expiry counts as expired."""
    holds = Hold.objects.filter(account__user_id=user_id)
    if status == Hold.Status.ACTIVE:
        holds = holds.filter(status=Hold.Status.ACTIVE, expires_at__gt=now)
    elif status == Hold.Status.EXPIRED:
        holds = holds.filter(
            Q(status=Hold.Status.EXPIRED) | Q(status=Hold.Status.ACTIVE, expires_at__lte=now)
        )
    elif status:
        holds = holds.filter(status=status)
    return holds.order_by("-created_at", "-id")


def hold_get(*, user_id: UUID, hold_id: UUID) -> Hold:
    try:
        return Hold.objects.get(pk=hold_id, account__user_id=user_id)
    except Hold.DoesNotExist as error:
        raise NotFound("No hold with this id.") from error
