"""A user's usage and holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from django.db import connections
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from common.errors import NotFound
from tokens.models import Hold, UsageRecord, UsageSource
from tokens.selectors.lots import allocations_in_order


def usage_of_user(
    *,
    user_id: UUID,
    feature: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[UsageRecord]:
    """The user's usage, newest first, with what paid for each (prefetched: two queries)."""
    usage = UsageRecord.objects.filter(account__user_id=user_id).prefetch_related(
        allocations_in_order("entry__allocations")
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
    # How many features this row sums (usage_by_day's "other" row); 0 for a feature's own.
    others: int = 0


def usage_by_day(*, user_id: UUID, since: date, features_per_day: int) -> list[UsageDay]:
    """The user's usage per UTC day and feature since `since`, newest day first: how many
    uses, their cost, what was charged net of refunds (a refund gives a use's whole charge
    back), what was refunded since, and how many an unlimited plan covered. One query.

    Each day shows its `features_per_day` features that used the most tokens (by name),
    then one row summing the rest (`others` says how many): a service that names a
    feature per call had one row per use, thousands on one page. The database folds them,
    so no more than that many rows per day are read, and each day's sums are unchanged."""
    per_feature = (
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
        .order_by()
    )
    inner, params = per_feature.query.get_compiler(using=per_feature.db).as_sql()
    # A literal, not a parameter: the GROUP BY must repeat the SELECT's expression exactly.
    limit = int(features_per_day)
    shown = f'CASE WHEN "rank" <= {limit} THEN "feature" END'
    sql = f"""
        SELECT "day", {shown}, CASE WHEN MIN("rank") > {limit} THEN COUNT(*) ELSE 0 END,
            SUM("uses"), SUM("amount"), SUM("charged"), SUM("refunded"), SUM("covered")
        FROM (
            SELECT per_feature.*, ROW_NUMBER() OVER (
                PARTITION BY "day" ORDER BY "amount" DESC, "feature"
            ) AS "rank"
            FROM ({inner}) AS per_feature
        ) AS ranked
        GROUP BY "day", {shown}
    """  # noqa: S608 (the inner query is the ORM's, with its parameters; the limit an int)
    with connections[per_feature.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = [_usage_day(*row) for row in cursor.fetchall()]
    return sorted(rows, key=lambda row: (-row.day.toordinal(), row.others > 0, row.feature))


def _usage_day(day: date | str, feature: str | None, others: int, *sums: int) -> UsageDay:
    """A row of the folding query, read past the ORM: SQLite gives the day as text, and
    PostgreSQL's sums of big integers are Decimals."""
    uses, amount, charged, refunded, covered = (int(value) for value in sums)
    return UsageDay(
        day=day if isinstance(day, date) else date.fromisoformat(day),
        feature=feature or "",
        uses=uses,
        amount=amount,
        charged=charged,
        refunded=refunded,
        covered=covered,
        others=int(others),
    )
