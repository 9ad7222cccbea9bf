"""What each run of the ledger's audit found, so /metrics (served by gunicorn) can say it
whichever process or machine ran the audit."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LedgerCheckRun(models.Model):
    """One finished `ledger_check`: when it ended and how many accounts failed it. A run
    that did not finish leaves no row, so the newest row's age says how stale the audit is."""

    finished_at = models.DateTimeField(default=timezone.now, db_index=True)
    failing_accounts = models.PositiveIntegerField()

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"{self.finished_at:%Y-%m-%d %H:%M:%S}: {self.failing_accounts} failing"
