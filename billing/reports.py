"""The staff billing overview: what came in, what is stuck, what needs a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import islice

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import Invoice, PaymentEvent, TokenBundlePurchase
from tokens.selectors import LedgerMismatch, ledger_check

DAYS = 30
LISTED = 50
REVIEW_OUTCOMES = [PaymentEvent.Outcome.NEEDS_REVIEW, PaymentEvent.Outcome.FAILED]


@dataclass(frozen=True)
class DailyFigures:
    days: list[date]
    revenue: list[Decimal]
    tokens_sold: list[int]


@dataclass(frozen=True)
class Overview:
    daily: DailyFigures
    stale_invoices: list[Invoice]
    stale_invoice_count: int
    events_to_review: list[PaymentEvent]
    events_to_review_count: int
    ledger_failures: list[LedgerMismatch]


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


def billing_overview() -> Overview:
    stale = Invoice.objects.filter(
        status=Invoice.Status.PENDING, created_at__lt=timezone.now() - timedelta(hours=1)
    ).select_related("user", "currency")
    review = PaymentEvent.objects.filter(outcome__in=REVIEW_OUTCOMES).select_related("invoice")
    return Overview(
        daily=daily_figures(),
        stale_invoices=list(stale.order_by("created_at")[:LISTED]),
        stale_invoice_count=stale.count(),
        events_to_review=list(review.order_by("-received_at")[:LISTED]),
        events_to_review_count=review.count(),
        ledger_failures=list(islice(ledger_check(), LISTED)),
    )
