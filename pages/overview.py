"""The staff overview of billing and the ledger: it shows both apps, so it lives above them."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from billing.models import Invoice, PaymentEvent
from billing.reports import DailyFigures, daily_figures, invoices_stale, payment_events_to_review
from tokens.selectors import LedgerMismatch, ledger_check

LISTED = 50


@dataclass(frozen=True)
class Overview:
    daily: DailyFigures
    stale_invoices: list[Invoice]
    stale_invoice_count: int
    events_to_review: list[PaymentEvent]
    events_to_review_count: int
    ledger_failures: list[LedgerMismatch]


def billing_overview() -> Overview:
    stale = invoices_stale()
    review = payment_events_to_review()
    return Overview(
        daily=daily_figures(),
        stale_invoices=list(stale.order_by("created_at")[:LISTED]),
        stale_invoice_count=stale.count(),
        events_to_review=list(review.order_by("-received_at")[:LISTED]),
        events_to_review_count=review.count(),
        ledger_failures=list(islice(ledger_check(), LISTED)),
    )
