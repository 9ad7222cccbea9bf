"""The ledger audit's outcome in /metrics, read from the database at every scrape.

`ledger_check` runs in the worker (or by hand), often in another container or on another
machine than gunicorn, whose /metrics could never see a counter it incremented. Each
finished run is a row (tokens.services.ledger_check_record); /metrics reads the newest with
one indexed query. Alert on `ledger_check_failing_accounts > 0`, and on
`time() - ledger_check_last_run_timestamp_seconds` above a couple of hours (an audit that
stopped running, or fails before it finishes). Neither is there before the first run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily

from common.outage import warn_database_error
from tokens.selectors import ledger_check_last_run

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
