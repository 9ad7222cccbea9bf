"""A worker killed in the middle of a sweep and started again on the same host (a container's
restart policy, systemd's `Restart=always`) runs that sweep at once, not a period later."""

import signal

import pytest
from django.contrib.sessions.models import Session
from django_tasks_db.models import DBTaskResult

from common.models import Lease
from jobs import tasks
from jobs.tests.purge_helpers import purge_held
from jobs.tests.test_worker_process import connections_of, start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_purge_cut_short_by_sigkill_runs_again_when_the_worker_restarts():
    """The killed worker's lease on the purge stood for up to a minute after it died: the
    worker started again at once found it, logged the purge "running in another worker;
    skipped", recorded that run as a success and queued the next for a day later. Expired
    sessions and idempotency records stayed another day, and the purge that an OOM kill cut
    short every day never ran while its metric said it had."""
    purges = DBTaskResult.objects.filter(task_path=tasks.purge_records.module_path)
    first = second = None
    try:
        with purge_held() as expired:
            first = start_worker(DB_LOCK_TIMEOUT="0", DB_STATEMENT_TIMEOUT="0")
            wait_for(lambda: purges.filter(status="RUNNING").exists())
            wait_for(lambda: Lease.objects.filter(name="job:purge_records").exists())
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            # The database ends a dead client's session; its DELETE never committed.
            connections_of(first, terminate=True)
        second = start_worker()
        wait_for(lambda: purges.filter(status="SUCCESSFUL").exists())
    finally:
        for worker in (first, second):
            if worker and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(20)

    assert not Session.objects.filter(pk=expired.pk).exists()
