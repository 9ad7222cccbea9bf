"""The ledger audit's outcome, recorded in the database: the audit runs in the worker or by
hand, /metrics is served by gunicorn elsewhere, and both read this table."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tokens.models import LedgerCheckRun

# Runs older than this are deleted by the next run: the newest is what /metrics reads, the
# rest is a short history for whoever looks at the table.
RUNS_KEPT = timedelta(days=30)


def ledger_check_record(*, failing_accounts: int, now: datetime | None = None) -> LedgerCheckRun:
    """Records a finished audit and drops runs older than RUNS_KEPT (by the indexed time)."""
    now = now or timezone.now()
    with transaction.atomic():
        run = LedgerCheckRun.objects.create(finished_at=now, failing_accounts=failing_accounts)
        LedgerCheckRun.objects.filter(finished_at__lt=now - RUNS_KEPT).delete()
    return run
