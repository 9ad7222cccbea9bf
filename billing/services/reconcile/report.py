"""What a reconciliation run found and did, and the size of the batches its steps handle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# Events needing review are counted; this many of the newest are listed.
REVIEW_LISTED = 100
Progress = Callable[[str, int], None]


def no_progress(step: str, advance: int) -> None:
    """Progress reports go nowhere unless the command shows them."""


@dataclass
class ReconcileReport:
    dry_run: bool
    paid_invoices_completed: int = 0
    held_refunds_applied: int = 0
    stripe_sessions_checked: int = 0
    invoices_captured: int = 0
    invoices_cancelled: int = 0
    stripe_events_checked: int = 0
    stripe_events_recovered: int = 0
    subscriptions_expired: int = 0
    stripe_sessions_expired: int = 0
    idempotency_records_purged: int = 0
    paid_invoices_verified: int = 0
    invoices_refunded: int = 0
    payments_needing_review: int = 0
    stripe_errors: list[str] = field(default_factory=list)
    unknown_to_provider: list[str] = field(default_factory=list)
    needs_review: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def actions(self) -> int:
        return (
            self.paid_invoices_completed
            + self.held_refunds_applied
            + self.invoices_captured
            + self.invoices_cancelled
            + self.stripe_events_recovered
            + self.subscriptions_expired
            + self.stripe_sessions_expired
            + self.idempotency_records_purged
            + self.invoices_refunded
        )


def on_its_own(report: ReconcileReport, what: str, step: Callable[[], None]) -> None:
    """Runs one invoice's work, or one step of the run, on its own (its own transactions),
    so one it cannot finish (a row held past the lock timeout by a stuck transaction, a
    statement cancelled) holds up no other: the failure is logged with its traceback and
    listed in `report.failed` under `what` (an invoice's number, a step's name), the run goes
    on, and the command then fails naming it."""
    try:
        step()
    except Exception as error:  # logged with its traceback; the next one still runs
        logger.exception("Reconciliation could not finish %s.", what)
        reason = str(error).partition("\n")[0] or type(error).__name__
        report.failed.append(f"{what}: {reason}")
