"""What an operator watches, in Prometheus' text format at /metrics.

Services call the small functions below; each counts after its transaction commits, so a
rolled-back write is never counted. Under gunicorn, prometheus-client runs in multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set up by config/gunicorn.py) and /metrics adds up every
worker's counts; elsewhere (runserver, tests, commands) it counts in the process.

Tokens consumed are `tokens_debited_total{transaction_type="usage"}`, tokens refunded
`tokens_credited_total{transaction_type="refund"}`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol

from django.db import transaction
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

REQUESTS = Counter(
    "http_requests_total",
    "Requests answered, by view, method and status.",
    ["view", "method", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by view and method.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TOKENS_CREDITED = Counter(
    "tokens_credited_total", "Tokens added to balances, by ledger entry type.", ["transaction_type"]
)
TOKENS_DEBITED = Counter(
    "tokens_debited_total",
    "Tokens taken from balances, by ledger entry type.",
    ["transaction_type"],
)
CAPTURES = Counter("invoice_captures_total", "Invoices paid, by payment provider.", ["provider"])
WEBHOOKS_REFUSED = Counter(
    "webhook_deliveries_refused_total",
    "Payment webhook deliveries answered with an error, by provider and error code.",
    ["provider", "reason"],
)
LEDGER_CHECK_FAILURES = Counter(
    "ledger_check_failures_total", "Accounts that failed a ledger check (manage.py ledger_check)."
)


class _LedgerEntry(Protocol):
    amount: int
    transaction_type: str


def request_observed(*, view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    REQUESTS.labels(view, method, str(status)).inc()
    LATENCY.labels(view, method).observe(seconds)


def ledger_appended(entries: Iterable[_LedgerEntry]) -> None:
    def count() -> None:
        for entry in entries:
            counter = TOKENS_CREDITED if entry.amount > 0 else TOKENS_DEBITED
            counter.labels(str(entry.transaction_type)).inc(abs(entry.amount))

    transaction.on_commit(count, robust=True)


def invoice_captured(*, provider: str) -> None:
    transaction.on_commit(lambda: CAPTURES.labels(provider).inc(), robust=True)


def webhook_refused(*, provider: str, reason: str) -> None:
    transaction.on_commit(lambda: WEBHOOKS_REFUSED.labels(provider, reason).inc(), robust=True)


def ledger_check_failed(*, accounts: int) -> None:
    if accounts:
        LEDGER_CHECK_FAILURES.inc(accounts)


def exposition() -> tuple[bytes, str]:
    """Every metric in the text format: all workers' when running under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
