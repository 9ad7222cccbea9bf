"""The worker's sweeps in /metrics, read from the database at every scrape.

The sweeps (expiring lots and holds, reconciling purchases, the ledger audit, the daily
purge) run in the worker's process, often in another container or on another machine than
gunicorn, whose /metrics could never see a counter they incremented. Each run leaves its
outcome in the task queue's table (django-tasks-db's results, kept a day by the daily
purge, and each sweep's last success for good), so /metrics reads it there, in one query
over the sweeps' queue:

- `worker_sweep_last_success_timestamp_seconds{sweep}`: when the sweep last finished
  without an error. Alert on `time() - ...` above a few periods (5 min for `expire_lots`,
  `expire_holds` and `expire_subscriptions`, which run each minute; 3 h for the hourly
  ones; 2 days for `purge_records`): the worker stopped, or the sweep fails every time. None
  when the sweep has never succeeded.
- `worker_sweep_last_failure_timestamp_seconds{sweep}`: when it last failed (an error, or a
  run its worker died in); none when no failure is kept.
- `worker_sweep_failures{sweep}`: runs that failed in the last 24 hours. The log has each
  failure's error.

Webhook delivery has metrics of its own (events/metrics.py). Tokens expired and holds
released are ledger and hold rows, not counted here (that would read those tables whole);
tokens/metrics.py shows what the expiry sweeps have left undone instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Count, Max, Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client.core import GaugeMetricFamily

from common.outage import warn_database_error

logger = logging.getLogger(__name__)

FAILURES_WITHIN = timedelta(hours=24)
SUCCEEDED = "SUCCESSFUL"
FAILED = "FAILED"


def _sweeps() -> dict[str, str]:
    """Each sweep's task path, by its name in the schedule."""
    from jobs.tasks import SCHEDULE, deliver_webhooks

    return {
        job.module_path: name for name, (job, _) in SCHEDULE.items() if job is not deliver_webhooks
    }


class SweepsCollector:
    """No `describe`: the registry must not query the database when it is registered."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        succeeded = GaugeMetricFamily(
            "worker_sweep_last_success_timestamp_seconds",
            "When the worker's sweep last finished without an error, in seconds since the epoch.",
            labels=["sweep"],
        )
        failed = GaugeMetricFamily(
            "worker_sweep_last_failure_timestamp_seconds",
            "When the worker's sweep last failed, in seconds since the epoch.",
            labels=["sweep"],
        )
        failures = GaugeMetricFamily(
            "worker_sweep_failures",
            "Runs of the worker's sweep that failed in the last 24 hours.",
            labels=["sweep"],
        )
        sweeps = _sweeps()
        since = timezone.now() - FAILURES_WITHIN
        try:
            runs = list(
                DBTaskResult.objects.filter(
                    task_path__in=list(sweeps), status__in=[SUCCEEDED, FAILED]
                )
                .values("task_path")
                .annotate(
                    succeeded=Max("finished_at", filter=Q(status=SUCCEEDED)),
                    failed=Max("finished_at", filter=Q(status=FAILED)),
                    failures=Count("pk", filter=Q(status=FAILED, finished_at__gte=since)),
                )
                .order_by()
            )
        except DatabaseError as error:
            # The other metrics are still worth answering with; /health reports the database.
            warn_database_error(logger, "/metrics could not read the worker's sweeps", error)
            return
        counted = dict.fromkeys(sweeps.values(), 0)
        for run in runs:
            name = sweeps[run["task_path"]]
            counted[name] = run["failures"]
            if run["succeeded"] is not None:
                succeeded.add_metric([name], run["succeeded"].timestamp())
            if run["failed"] is not None:
                failed.add_metric([name], run["failed"].timestamp())
        for name, count in counted.items():
            failures.add_metric([name], count)
        yield succeeded
        yield failed
        yield failures
