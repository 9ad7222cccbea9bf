"""`manage.py worker` as a real process: deliveries survive a SIGKILL, sweeps run once."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import RevokedRefreshToken
from common.locks import SLACK as LEASE_SLACK
from common.locks import TERM as LEASE_TERM
from common.models import Lease
from events import services
from jobs import tasks
from jobs.metrics import SweepsCollector

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.sqlite
def test_the_daily_purge_deletes_expired_sign_in_sessions_and_keeps_live_ones():
    """Django keeps every session row until something clears them."""
    store = SessionStore()
    store["kept"] = True
    store.set_expiry(3600)
    store.create()
    expired = SessionStore()
    expired.set_expiry(-1)
    expired.create()

    tasks.purge_records.call()

    assert list(Session.objects.values_list("session_key", flat=True)) == [store.session_key]


@pytest.mark.sqlite
def test_the_daily_purge_forgets_revoked_refresh_tokens_once_they_have_expired():
    """A signed-out refresh token is kept only while it could still refresh."""
    now = timezone.now()
    RevokedRefreshToken.objects.create(jti="gone", expires_at=now - timedelta(seconds=1))
    RevokedRefreshToken.objects.create(jti="kept", expires_at=now + timedelta(hours=1))

    tasks.purge_records.call()

    assert list(RevokedRefreshToken.objects.values_list("jti", flat=True)) == ["kept"]


@pytest.mark.sqlite
def test_a_purge_that_fails_leaves_the_others_to_run_and_the_task_fails(monkeypatch, caplog):
    """Before, the first purge to fail ended the day's purging: sessions and task results
    were kept until it stopped failing."""
    expired = SessionStore()
    expired.set_expiry(-1)
    expired.create()

    def broken(**kwargs):
        raise RuntimeError("the events table is locked")

    monkeypatch.setattr(services, "events_purge", broken)

    with pytest.raises(Exception, match="events") as failed:
        tasks.purge_records.call()

    assert not Session.objects.exists()
    assert (type(failed.value).__name__, str(failed.value)) == ("PurgesFailed", "events")
    assert "The purge of events failed" in caplog.text


@pytest.mark.sqlite
def test_the_daily_purge_deletes_old_results_of_every_queue():
    """The delivery shifts run on the `deliveries` queue, one result every 30 s per worker
    (2,880 a day): the purge pruned the `default` queue only, so they were kept for ever."""
    tasks.deliver_webhooks.enqueue()
    tasks.expire_lots.enqueue()
    DBTaskResult.objects.update(status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=2))
    # Not the sweep's last success (its metric's).
    last = tasks.expire_lots.enqueue()
    DBTaskResult.objects.filter(pk=last.id).update(
        status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=1, seconds=1)
    )

    tasks.purge_records.call()

    left = DBTaskResult.objects.exclude(status="READY").values_list("pk", flat=True)
    assert [str(pk) for pk in left] == [last.id]


@pytest.mark.sqlite
def test_the_daily_purge_deletes_a_backlog_of_task_results_in_batches(monkeypatch):
    """Since every queue is pruned, the first purge of a deployment that ran for months
    deleted its whole backlog (2,880 delivery shifts a day per worker) in one statement,
    which could outlast the statement timeout and then fail every day with nothing gained."""
    monkeypatch.setattr(tasks, "PURGE_BATCH", 2, raising=False)
    for _ in range(5):
        tasks.deliver_webhooks.enqueue()
    DBTaskResult.objects.update(status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=2))
    recent = tasks.expire_lots.enqueue()
    DBTaskResult.objects.filter(pk=recent.id).update(
        status="SUCCESSFUL", finished_at=timezone.now() - timedelta(hours=1)
    )

    with CaptureQueriesContext(connection) as queries:
        tasks.purge_records.call()

    table = DBTaskResult._meta.db_table
    sqls = [query["sql"] for query in queries]
    deletes = [sql for sql in sqls if sql.startswith("DELETE") and table in sql.split("WHERE")[0]]
    assert len(deletes) == 3
    finished = DBTaskResult.objects.exclude(status="READY").values_list("pk", flat=True)
    assert [str(pk) for pk in finished] == [recent.id]


def test_a_sweep_skipped_for_a_lease_held_elsewhere_is_tried_again_once_it_could_lapse():
    """The lease may be a killed worker's in another container (not taken over from here): a
    skip queued the next run a period on, so the daily purge waited a day."""
    Lease.objects.create(
        name="job:purge_records",
        holder="another-host/1:1:killed",
        expires_at=timezone.now() + timedelta(seconds=50),
    )
    # The run this call is: claimed, so the schedule has nothing of the purge waiting.
    tasks.schedule_ensure()
    DBTaskResult.objects.filter(task_path=tasks.purge_records.module_path).update(
        status="RUNNING", started_at=timezone.now(), worker_ids=["this-host-1-sweeps"]
    )

    tasks.purge_records.call()

    (next_run,) = DBTaskResult.objects.filter(
        task_path=tasks.purge_records.module_path, status="READY"
    ).values_list("run_after", flat=True)
    assert next_run <= timezone.now() + LEASE_TERM + LEASE_SLACK


@pytest.mark.sqlite
def test_the_daily_purge_keeps_each_sweeps_last_success_for_its_metric(monkeypatch):
    """The purge runs a day after the last one ended, and deleted the results finished a day
    before, its own last success among them: worker_sweep_last_success_timestamp_seconds
    {sweep="purge_records"} was absent while it ran, and from the day one failed, though
    the operator's alert waits for it to be two days old."""
    now = timezone.now()
    finished = {
        tasks.purge_records: now - timedelta(days=1, seconds=1),
        tasks.expire_lots: now - timedelta(days=2),
    }
    for job, at in finished.items():
        older = job.enqueue()
        DBTaskResult.objects.filter(pk=older.id).update(
            status="SUCCESSFUL", finished_at=at - timedelta(days=1)
        )
        last = job.enqueue()
        DBTaskResult.objects.filter(pk=last.id).update(status="SUCCESSFUL", finished_at=at)

    def broken(**kwargs):
        raise RuntimeError("the events table is locked")

    monkeypatch.setattr(services, "events_purge", broken)
    with pytest.raises(tasks.PurgesFailed):
        tasks.purge_records.call()

    found = {
        sample.labels["sweep"]: sample.value
        for family in SweepsCollector().collect()
        for sample in family.samples
        if sample.name == "worker_sweep_last_success_timestamp_seconds"
    }
    assert found == {job.name: at.timestamp() for job, at in finished.items()}
    assert DBTaskResult.objects.exclude(status="READY").count() == 2
