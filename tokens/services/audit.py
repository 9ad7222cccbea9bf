"""The ledger audit's outcome, recorded in the database: the audit runs in the worker or by
hand, /metrics is served by gunicorn elsewhere, and the staff overview shows it; all read
this table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tokens.models import LedgerCheckRun
from tokens.selectors import LedgerMismatch

# Runs older than this are deleted by the next run: the newest is what /metrics reads, the
# rest is a short history for whoever looks at the table.
RUNS_KEPT = timedelta(days=30)
# Failing accounts a run keeps for the staff overview, which lists them; the count has no cap.
FAILURES_KEPT = 50


def ledger_check_record(
    *,
    failing_accounts: int,
    failures: Iterable[LedgerMismatch] = (),
    now: datetime | None = None,
) -> LedgerCheckRun:
    """Records a finished audit with its first FAILURES_KEPT failing accounts and drops runs
    older than RUNS_KEPT (by the indexed time)."""
    now = now or timezone.now()
    kept = [
        {
            "account_id": str(failure.account_id),
            "user_id": str(failure.user_id),
            "problems": list(failure.problems),
        }
        for failure, _ in zip(failures, range(FAILURES_KEPT), strict=False)
    ]
    with transaction.atomic():
        run = LedgerCheckRun.objects.create(
            finished_at=now, failing_accounts=failing_accounts, failures=kept
        )
        LedgerCheckRun.objects.filter(finished_at__lt=now - RUNS_KEPT).delete()
    return run
