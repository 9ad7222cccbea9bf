"""What each run of the ledger's audit found, so /metrics (served by gunicorn) can say it
whichever process or machine ran the audit."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LedgerCheckRun(models.Model):
    """One finished `ledger_check`: when it ended, how many accounts failed it and the first
    of them. A run that did not finish leaves no row, so the newest row's age says how stale
    the audit is. The staff overview shows the newest run rather than auditing every account
    again on each load (10,000 accounts: about 20 s)."""

    finished_at = models.DateTimeField(default=timezone.now, db_index=True)
    failing_accounts = models.PositiveIntegerField()
    # The first failing accounts (tokens.services.audit.FAILURES_KEPT), in the audit's order:
    # [{"account_id", "user_id", "problems": [...]}] (runs recorded before ids replaced emails
    # have "user_email" instead of "user_id"). Bounded, so a run is a small row however many
    # accounts fail.
    failures = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"{self.finished_at:%Y-%m-%d %H:%M:%S}: {self.failing_accounts} failing"
