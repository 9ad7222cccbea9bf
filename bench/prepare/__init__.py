"""Benchmark data, created inside the benchmark database by `bench/run.py` (through
`harness.prepare`, which calls these by name)."""

from bench.prepare.billing import (
    checkout_catalog,
    checkout_history,
    signed_captures,
    stale_invoices,
    webhook_outcomes,
)
from bench.prepare.ledger import (
    audited_history,
    catalog,
    floor_tables,
    holds_history,
    idempotency_records,
    ledger_invariant,
    ledger_users,
    vacuum_analyze,
)

__all__ = [
    "audited_history",
    "catalog",
    "checkout_catalog",
    "checkout_history",
    "floor_tables",
    "holds_history",
    "idempotency_records",
    "ledger_invariant",
    "ledger_users",
    "signed_captures",
    "stale_invoices",
    "vacuum_analyze",
    "webhook_outcomes",
]
