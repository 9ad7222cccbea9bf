"""The ledger audit's outcome and the expiry sweeps' backlog in /metrics, read from the
database at every scrape.

`ledger_check` runs in the worker (or by hand), often in another container or on another
machine than gunicorn, whose /metrics could never see a counter it incremented. Each
finished run is a row (tokens.services.ledger_check_record); /metrics reads the newest with
one indexed query. Alert on `ledger_check_failing_accounts > 0`, and on
`time() - ledger_check_last_run_timestamp_seconds` above a couple of hours (an audit that
stopped running, or fails before it finishes). Neither is there before the first run.

The expiry sweeps count what they did in the worker's process, which /metrics never sees,
and a sweep can succeed every minute (`worker_sweep_last_success_timestamp_seconds`) while
booking nothing. What shows a sweep that stopped doing its work is the work left undone:
`token_sweep_overdue{sweep}` (lots expired with tokens still in them, active holds past
their expiry) and `token_sweep_oldest_overdue_timestamp_seconds{sweep}` (when the oldest of
them expired; none when nothing is overdue). Both sweeps run each minute: alert on
`time() - ...` above 5 minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from common.outage import warn_database_error
from tokens.selectors import expiry_overdue, ledger_check_last_run

logger = logging.getLogger(__name__)


class LedgerCheckCollector:
    """No `describe`: the registry must not query the database when it is registered."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        failing = GaugeMetricFamily(
            "ledger_check_failing_accounts",
            "Accounts that failed the newest finished ledger check (manage.py ledger_check).",
        )
        finished = GaugeMetricFamily(
            "ledger_check_last_run_timestamp_seconds",
            "When the newest ledger check finished, in seconds since the epoch.",
        )
        try:
            run = ledger_check_last_run()
        except DatabaseError as error:
            # The other metrics are still worth answering with; /health reports the database.
            warn_database_error(
                logger, "/metrics could not read the ledger check's last run", error
            )
            run = None
        if run is not None:
            failing.add_metric([], run.failing_accounts)
            finished.add_metric([], run.finished_at.timestamp())
        yield failing
        yield finished


class ExpiryOverdueCollector:
    """No `describe`: the registry must not query the database when it is registered."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        overdue = GaugeMetricFamily(
            "token_sweep_overdue",
            "Lots expired with tokens still in them (expire_lots) and active holds past their"
            " expiry (expire_holds): the expiry sweeps' work not done yet.",
            labels=["sweep"],
        )
        oldest = GaugeMetricFamily(
            "token_sweep_oldest_overdue_timestamp_seconds",
            "When the oldest lot or hold the expiry sweep has not booked yet expired, in"
            " seconds since the epoch.",
            labels=["sweep"],
        )
        try:
            backlog = expiry_overdue(now=timezone.now())
        except DatabaseError as error:
            # The other metrics are still worth answering with; /health reports the database.
            warn_database_error(logger, "/metrics could not read the expiry sweeps' backlog", error)
            return
        for sweep, left in backlog.items():
            overdue.add_metric([sweep], left.count)
            if left.oldest_expired_at is not None:
                oldest.add_metric([sweep], left.oldest_expired_at.timestamp())
        yield overdue
        yield oldest
