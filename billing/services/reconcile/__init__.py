"""Reconciliation: finish what the webhooks missed (also the refunds and disputes whose Stripe
webhook never came, asked of Stripe), and report what a person must decide: paid invoices
Stripe does not know, payment events flagged for review. (The ledger has its own audit,
`manage.py ledger_check`.)

Each step works in batches (keyset pages of ids), one transaction per invoice, so it runs
beside live traffic with bounded memory and short locks. Every step is idempotent: a second
run right after the first finds nothing to do. With `dry_run`, nothing is written and the
counts say what would be done.
"""

from billing.services.reconcile.local import (
    SubscriptionsIncomplete,
    ended_subscriptions_expire,
    held_refunds,
    idempotency_purge,
    paid_invoices_complete,
    paid_invoices_incomplete,
    payments_needing_review,
    subscriptions_expire,
)
from billing.services.reconcile.report import ReconcileReport, on_its_own
from billing.services.reconcile.stripe import (
    paid_invoices_verify,
    stale_stripe_sessions,
    unconfirmed_sessions_expire,
)
from billing.services.reconcile.stripe_events import stripe_events_recover

__all__ = [
    "ReconcileReport",
    "SubscriptionsIncomplete",
    "ended_subscriptions_expire",
    "held_refunds",
    "idempotency_purge",
    "on_its_own",
    "paid_invoices_complete",
    "paid_invoices_incomplete",
    "paid_invoices_verify",
    "payments_needing_review",
    "stale_stripe_sessions",
    "stripe_events_recover",
    "subscriptions_expire",
    "unconfirmed_sessions_expire",
]
