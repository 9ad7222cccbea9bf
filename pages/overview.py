"""The staff overview of billing and the ledger: it shows both apps, so it lives above them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from billing.models import Invoice, PaymentEvent
from billing.reports import (
    DailyFigures,
    daily_figures,
    invoices_stale,
    paying_users,
    payment_events_to_review,
)
from catalog.models import Currency
from catalog.selectors import default_currency
from events.models import WebhookEndpoint
from events.selectors import endpoints_failing
from tokens.models import LedgerCheckRun
from tokens.selectors import LedgerMismatch, ledger_check, ledger_check_last_run

LISTED = 50


@dataclass(frozen=True)
class Overview:
    daily: DailyFigures
    currency: Currency
    paying_users: int
    stale_invoices: list[Invoice]
    stale_invoice_count: int
    events_to_review: list[PaymentEvent]
    events_to_review_count: int
    ledger_failures: list[LedgerMismatch]
    # More accounts fail than the LISTED shown: the heading must not give the list's length.
    ledger_failures_more: bool
    # The newest recorded audit (manage.py ledger_check), whose count has no cap.
    ledger_last_run: LedgerCheckRun | None
    failing_endpoints: list[WebhookEndpoint]
    failing_endpoint_count: int

    @property
    def revenue(self) -> Decimal:
        return sum(self.daily.revenue, Decimal(0))

    @property
    def tokens_sold(self) -> int:
        return sum(self.daily.tokens_sold)

    @property
    def has_sales(self) -> bool:
        return bool(self.revenue or self.tokens_sold)


def billing_overview() -> Overview:
    stale = invoices_stale()
    review = payment_events_to_review()
    failing = endpoints_failing()
    daily = daily_figures()
    ledger_failures = list(islice(ledger_check(), LISTED + 1))
    return Overview(
        daily=daily,
        currency=default_currency(),
        paying_users=paying_users(since=daily.days[0]),
        stale_invoices=list(stale.order_by("created_at")[:LISTED]),
        stale_invoice_count=stale.count(),
        events_to_review=list(review.order_by("-received_at")[:LISTED]),
        events_to_review_count=review.count(),
        ledger_failures=ledger_failures[:LISTED],
        ledger_failures_more=len(ledger_failures) > LISTED,
        ledger_last_run=ledger_check_last_run(),
        failing_endpoints=list(failing[:LISTED]),
        failing_endpoint_count=failing.count(),
    )
