"""Billing's figures for the staff overview (pages.overview): what came in, what is stuck,
what needs a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import Invoice, PaymentEvent, TokenBundlePurchase

DAYS = 30
REVIEW_OUTCOMES = [PaymentEvent.Outcome.NEEDS_REVIEW, PaymentEvent.Outcome.FAILED]


@dataclass(frozen=True)
class DailyFigures:
    days: list[date]
    revenue: list[Decimal]
    tokens_sold: list[int]


def daily_figures(*, today: date | None = None) -> DailyFigures:
    """Revenue of paid invoices and tokens of completed purchases per day (UTC), for the last
    30 days including today; days without any are 0. Two queries."""
    today = today or timezone.now().date()
    days = [today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    revenue = dict(
        Invoice.objects.filter(status=Invoice.Status.PAID, paid_at__date__gte=days[0])
        .annotate(day=TruncDate("paid_at"))
        .values("day")
        .annotate(amount=Sum("total"))
        .values_list("day", "amount")
    )
    tokens = dict(
        TokenBundlePurchase.objects.filter(
            status=TokenBundlePurchase.Status.COMPLETED, completed_at__date__gte=days[0]
        )
        .annotate(day=TruncDate("completed_at"))
        .values("day")
        .annotate(amount=Sum("tokens"))
        .values_list("day", "amount")
    )
    return DailyFigures(
        days=days,
        revenue=[revenue.get(day, Decimal(0)) for day in days],
        tokens_sold=[tokens.get(day, 0) for day in days],
    )


def paying_users(*, since: date) -> int:
    """Users with an invoice paid on or after `since` (UTC) that is still paid. One query."""
    return (
        Invoice.objects.filter(status=Invoice.Status.PAID, paid_at__date__gte=since)
        .values("user_id")
        .distinct()
        .count()
    )


def invoices_stale() -> QuerySet[Invoice]:
    """Pending for more than an hour: a payment that may never have reached us."""
    return Invoice.objects.filter(
        status=Invoice.Status.PENDING, created_at__lt=timezone.now() - timedelta(hours=1)
    ).select_related("user", "currency")


def payment_events_to_review() -> QuerySet[PaymentEvent]:
    return PaymentEvent.objects.filter(outcome__in=REVIEW_OUTCOMES).select_related("invoice")
