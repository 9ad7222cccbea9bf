"""A user's usage and holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from common.errors import NotFound
from tokens.models import Hold, UsageRecord, UsageSource


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


@dataclass(frozen=True)
class UsageDay:
    day: date
    feature: str
    uses: int
    amount: int
    charged: int
    refunded: int
    covered: int


def usage_by_day(*, user_id: UUID, since: date) -> list[UsageDay]:
    """The user's usage per UTC day and feature since `since`, newest day first: how many
    uses, their cost, what was charged net of refunds (a refund gives a use's whole charge
    back), what was refunded since, and how many an unlimited plan covered. One query."""
    rows = (
        UsageRecord.objects.filter(account__user_id=user_id, created_at__date__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "feature")
        .annotate(
            uses=Count("id"),
            amount=Sum("amount"),
            # Refunded first: once `charged` names the day's sum, Sum("charged") would be it.
            refunded=Sum("charged", filter=Q(refunded_at__isnull=False), default=0),
            charged=Sum("charged", filter=Q(refunded_at__isnull=True), default=0),
            covered=Count("id", filter=Q(source=UsageSource.SUBSCRIPTION)),
        )
        .order_by("-day", "feature")
    )
    return [UsageDay(**row) for row in rows]
