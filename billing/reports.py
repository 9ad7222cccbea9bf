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


# Sold, whatever came later: a refund is its own figure on its own day.
SOLD = [Invoice.Status.PAID, Invoice.Status.REFUNDED]
TOKENS_SOLD = [TokenBundlePurchase.Status.COMPLETED, TokenBundlePurchase.Status.REFUNDED]


@dataclass(frozen=True)
class DailyFigures:
    days: list[date]
    revenue: list[Decimal]
    refunds: list[Decimal]
    tokens_sold: list[int]


def daily_figures(*, today: date | None = None) -> DailyFigures:
    """Per day (UTC), for the last 30 days including today (days without any are 0): the
    revenue of invoices paid that day, the totals of invoices refunded that day, and the
    tokens of purchases completed that day. A refund counted only as a sale dropped from its
    day: a past day's revenue changed under the staff who had read it, and a refund of a sale
    older than 30 days showed nowhere. Three queries."""
    today = today or timezone.now().date()
    days = [today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    revenue = dict(
        Invoice.objects.filter(status__in=SOLD, paid_at__date__gte=days[0])
        .annotate(day=TruncDate("paid_at"))
        .values("day")
        .annotate(amount=Sum("total"))
        .values_list("day", "amount")
    )
    refunds = dict(
        Invoice.objects.filter(status=Invoice.Status.REFUNDED, refunded_at__date__gte=days[0])
        .annotate(day=TruncDate("refunded_at"))
        .values("day")
        .annotate(amount=Sum("total"))
        .values_list("day", "amount")
    )
    tokens = dict(
        TokenBundlePurchase.objects.filter(status__in=TOKENS_SOLD, completed_at__date__gte=days[0])
        .annotate(day=TruncDate("completed_at"))
        .values("day")
        .annotate(amount=Sum("tokens"))
        .values_list("day", "amount")
    )
    return DailyFigures(
        days=days,
        revenue=[revenue.get(day, Decimal(0)) for day in days],
        refunds=[refunds.get(day, Decimal(0)) for day in days],
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
