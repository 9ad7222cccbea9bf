"""What an operator watches, in Prometheus' text format at /metrics.

Services call the small functions below; each counts after its transaction commits, so a
rolled-back write is never counted. Under gunicorn, prometheus-client runs in multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set up by config/gunicorn.py) and /metrics adds up every
worker's counts; elsewhere (runserver, tests, commands) it counts in the process.

Tokens consumed are `tokens_debited_total{transaction_type="usage"}`, tokens refunded
`tokens_credited_total{transaction_type="refund"}`.

Counters count what this process (or gunicorn's workers together) did: what the worker's
sweeps do is counted in the worker's process, which gunicorn's /metrics does not see. A fact
about the database that an operator alerts on wherever it was established (the ledger
audit's outcome, webhook delivery, the sweeps' runs) is read from the database at scrape
time instead: its owning app registers a collector with `collector_register` (from its
AppConfig.ready), and /metrics adds it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Protocol

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
from prometheus_client.metrics_core import Metric

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
    "Payment webhook deliveries refused with a 4xx (a bad signature, a body that does not"
    " parse, a notice the invoice refuses), by provider and error code; a delivery that"
    " failed on our side (5xx) is not counted here.",
    ["provider", "reason"],
)


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


# Collectors that read the database when /metrics is scraped, by name.
_READ_AT_SCRAPE: dict[str, Collector] = {}


class _LedgerEntry(Protocol):
    amount: int
    transaction_type: str


# Each request's labelled counter and histogram, by view, method and status: the same
# children `labels()` gives, which checks and joins the labels on every call. Views, methods
# and statuses are small fixed sets, so this stays small.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def request_observed(*, view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    key = (view, method, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (
            REQUESTS.labels(view, method, str(status)),
            LATENCY.labels(view, method),
        )
    children[0].inc()
    children[1].observe(seconds)


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


def collector_register(name: str, collector: Collector) -> None:
    """Adds `collector` to /metrics, read at every scrape in the process that answers it;
    registering a name again replaces its collector."""
    _READ_AT_SCRAPE[name] = collector


def exposition() -> tuple[bytes, str]:
    """Every metric in the text format: all workers' when running under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    read_now = CollectorRegistry(auto_describe=False)
    for collector in _READ_AT_SCRAPE.values():
        read_now.register(collector)
    return generate_latest(registry) + generate_latest(read_now), CONTENT_TYPE_LATEST
