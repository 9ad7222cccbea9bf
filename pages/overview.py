"""The staff overview of billing and the ledger: it shows both apps, so it lives above them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.selectors import user_emails
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
from tokens.selectors import ledger_check_last_run

LISTED = 50
# The worker audits hourly: a newest run older than this means the audit stopped (or fails
# before it finishes), as the /metrics alert on its timestamp says (README, Operations).
AUDIT_STALE_AFTER = timedelta(hours=2)


@dataclass(frozen=True)
class LedgerFailure:
    """A failing account of the last audit as staff read it: the run keeps the user's id
    (its listing is logged, so it names no one by email); the email is read now, for the
    page. Runs recorded before then kept the email itself, and no id."""

    user_id: str | None
    email: str
    problems: list[str]


@dataclass(frozen=True)
class Overview:
    daily: DailyFigures
    currency: Currency
    paying_users: int
    stale_invoices: list[Invoice]
    stale_invoice_count: int
    events_to_review: list[PaymentEvent]
    events_to_review_count: int
    # The newest recorded audit (manage.py ledger_check, hourly in the worker), with its
    # first failing accounts. Not a live audit: that read every account on each load (10,000
    # accounts of 100,000 entries: about 20 s of queries, the page 27 s).
    ledger_last_run: LedgerCheckRun | None
    ledger_last_run_stale: bool
    ledger_failures: list[LedgerFailure]
    failing_endpoints: list[WebhookEndpoint]
    failing_endpoint_count: int

    @property
    def ledger_failures_more(self) -> bool:
        """The run failed more accounts than it kept: the heading must not give the list's
        length."""
        run = self.ledger_last_run
        return run is not None and run.failing_accounts > len(run.failures)

    @property
    def revenue(self) -> Decimal:
        return sum(self.daily.revenue, Decimal(0))

    @property
    def refunds(self) -> Decimal:
        return sum(self.daily.refunds, Decimal(0))

    @property
    def net_revenue(self) -> Decimal:
        return self.revenue - self.refunds

    @property
    def tokens_sold(self) -> int:
        return sum(self.daily.tokens_sold)

    @property
    def has_sales(self) -> bool:
        return bool(self.revenue or self.refunds or self.tokens_sold)


def billing_overview(*, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    stale = invoices_stale()
    review = payment_events_to_review()
    failing = endpoints_failing()
    daily = daily_figures()
    last_run = ledger_check_last_run()
    return Overview(
        daily=daily,
        currency=default_currency(),
        paying_users=paying_users(since=daily.days[0]),
        stale_invoices=list(stale.order_by("created_at")[:LISTED]),
        stale_invoice_count=stale.count(),
        events_to_review=list(review.order_by("-received_at")[:LISTED]),
        events_to_review_count=review.count(),
        ledger_last_run=last_run,
        ledger_last_run_stale=last_run is not None
        and last_run.finished_at < now - AUDIT_STALE_AFTER,
        ledger_failures=_ledger_failures(last_run),
        failing_endpoints=list(failing[:LISTED]),
        failing_endpoint_count=failing.count(),
    )


def _ledger_failures(run: LedgerCheckRun | None) -> list[LedgerFailure]:
    failures = run.failures if run is not None else []
    emails = user_emails(user_ids=[f["user_id"] for f in failures if "user_id" in f])
    return [
        LedgerFailure(
            user_id=failure.get("user_id"),
            email=emails.get(failure.get("user_id"), failure.get("user_email", "")),
            problems=failure["problems"],
        )
        for failure in failures
    ]
