"""`manage.py worker` as a real process: deliveries survive a SIGKILL, sweeps run once."""

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from accounts.models import RevokedRefreshToken
from common.locks import exclusive_lock
from events import services
from events.models import Delivery
from events.tests.receiver import Receiver
from jobs import tasks

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def start_worker(*, log: Path | None = None, **settings: str) -> subprocess.Popen:
    """`manage.py worker` on the test database; its output goes to `log`, if given."""
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DEBUG": "0",
        "LOG_FORMAT": "text",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
        "WEBHOOK_LEASE_SECONDS": "2",
        **settings,
    }
    output = log.open("ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.1"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=output,
        )
    finally:
        if log:
            output.close()


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.1)


def test_a_delivery_cut_short_by_sigkill_arrives_later_with_the_same_webhook_id(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = Receiver(hold=threading.Event()).start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    receiver.secrets.append(endpoint.secret)
    with transaction.atomic():
        services.events_emit([services.Notice("ping", {"n": 1})])
    first = start_worker()
    second = None
    try:
        wait_for(receiver.arrived.is_set)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        held, receiver.hold = receiver.hold, None
        held.set()
        second = start_worker()
        wait_for(lambda: Delivery.objects.filter(status="succeeded").exists())
    finally:
        for worker in (first, second):
            if worker and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(20)
        receiver.stop()

    assert len(receiver.received) == 2
    assert len({got.headers["webhook-id"] for got in receiver.received}) == 1
    assert all(got.verified for got in receiver.received)
    assert Delivery.objects.get().attempts == 1


def test_a_worker_stopped_by_sigterm_records_what_it_sent_before_it_ends(settings, tmp_path):
    """SIGTERM (every deploy) ended the process with its sweeps: a webhook the endpoint
    received while the worker stopped was left pending with no attempt, so the next worker
    sent it again once its lease lapsed, and the shift was left RUNNING (on another host,
    no delivery for STALE_SHIFT)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = Receiver(hold=threading.Event()).start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    receiver.secrets.append(endpoint.secret)
    with transaction.atomic():
        services.events_emit([services.Notice("ping", {"n": 1})])
    log = tmp_path / "worker.log"
    worker = start_worker(log=log)
    try:
        wait_for(receiver.arrived.is_set)
        worker.send_signal(signal.SIGTERM)
        wait_for(lambda: "shutting down gracefully" in log.read_text())
        held, receiver.hold = receiver.hold, None
        held.set()
        worker.wait(40)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        receiver.stop()

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    shifts = DBTaskResult.objects.filter(task_path=tasks.deliver_webhooks.module_path)
    assert not shifts.filter(status="RUNNING").exists()
    assert len(receiver.received) == 1


def test_with_json_logs_every_line_the_worker_writes_is_a_json_object(tmp_path):
    """Its first start runs every sweep: the hourly reconcile_purchases printed its table and
    ledger_check its verdict to standard output, and the worker its first line, between the
    JSON log lines, so a log pipeline reading the container's output met a dozen lines a
    worker an hour it could not parse. What they say is in the log now, a line each."""
    log = tmp_path / "worker.log"
    worker = start_worker(log=log, LOG_FORMAT="json")
    try:
        for job in (tasks.reconcile_purchases, tasks.ledger_check):
            wait_for(
                lambda job=job: DBTaskResult.objects.filter(
                    task_path=job.module_path, status="SUCCESSFUL"
                ).exists()
            )
        worker.send_signal(signal.SIGTERM)
        worker.wait(40)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)

    lines = log.read_text().splitlines()
    not_json = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    messages = [json.loads(line)["message"] for line in lines if line not in not_json]
    assert not_json == []
    assert any(message.startswith("worker ") for message in messages)
    assert any("Every account agrees with its ledger entries." in m for m in messages)
    assert any("Nothing to do." in m for m in messages)


def test_the_schedule_queues_every_job_once():
    first = tasks.schedule_ensure()
    second = tasks.schedule_ensure()

    assert (first, second) == (len(tasks.SCHEDULE), 0)
    queued = DBTaskResult.objects.filter(status="READY").values_list("task_path", flat=True)
    assert sorted(queued) == sorted(job.module_path for job, _ in tasks.SCHEDULE.values())


def test_a_sweep_held_by_another_worker_is_skipped_and_queued_again(monkeypatch):
    ran = []
    monkeypatch.setattr(tasks.token_services, "holds_expire", lambda: ran.append(1))

    with exclusive_lock("job:expire_holds") as held:
        assert held
        tasks.expire_holds.call()
    tasks.expire_holds.call()

    assert ran == [1]
    assert DBTaskResult.objects.filter(
        task_path=tasks.expire_holds.module_path, status="READY"
    ).exists()


def connections_of(worker: subprocess.Popen, *, terminate: bool) -> int:
    """The worker's database sessions; with `terminate`, they are ended as a failover or a
    firewall would end them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(CASE WHEN %s THEN pg_terminate_backend(pid) ELSE true END) "
            "FROM pg_stat_activity WHERE application_name = %s",
            [terminate, f"tokenbilling:{worker.pid}"],
        )
        return cursor.fetchone()[0]


def test_deliveries_go_on_after_the_workers_connections_drop(settings):
    """A dropped connection ended the deliveries' thread: the process lived on, running its
    sweeps, and never delivered a webhook again."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = Receiver().start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    receiver.secrets.append(endpoint.secret)
    worker = start_worker()
    try:
        with transaction.atomic():
            services.events_emit([services.Notice("ping", {"n": 1})])
        wait_for(lambda: len(receiver.received) == 1)
        wait_for(lambda: connections_of(worker, terminate=False) >= 2)
        connections_of(worker, terminate=True)
        with transaction.atomic():
            services.events_emit([services.Notice("ping", {"n": 2})])
        wait_for(lambda: len(receiver.received) == 2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        receiver.stop()

    assert [got.verified for got in receiver.received] == [True, True]


def test_a_run_queued_by_a_clock_that_ran_ahead_is_given_up_and_queued_again():
    """Rescheduled while the clock was a year ahead, the lot sweep waited for that year: the
    schedule counted it as queued."""
    tasks.schedule_ensure()
    DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path).update(
        run_after=timezone.now() + timedelta(days=365)
    )

    assert tasks.schedule_ensure() == 1
    due = DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path, status="READY")
    # Stored as due at the greatest date: a run with no time to wait for.
    assert [run.run_after for run in due] == [get_date_max()]


def test_a_run_left_by_an_earlier_life_of_this_hosts_worker_pid_is_queued_again(monkeypatch):
    """A worker container restarted keeps its host name and is pid 1 again: the run its
    previous life was in looked alive (its pid was) until STALE_RUN, 15 minutes for a sweep."""
    tasks.schedule_ensure()
    monkeypatch.setattr(tasks, "PROCESS_STARTED_AT", timezone.now(), raising=False)
    previous_life = f"{socket.gethostname()}-{os.getpid()}-sweeps"
    DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path).update(
        status="RUNNING",
        started_at=timezone.now() - timedelta(minutes=1),
        worker_ids=[previous_life],
    )

    assert tasks.schedule_ensure() == 1
    runs = DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path)
    assert sorted(runs.values_list("status", flat=True)) == ["FAILED", "READY"]


def test_a_run_of_a_worker_on_a_host_whose_name_begins_with_this_hosts_is_left_running():
    """On host `web`, a run of `web-2`'s worker was checked against `web`'s processes: its
    pid was not one of them, so the live run was failed and its sweep queued again (run
    twice at once) or its delivery shift restarted."""
    tasks.schedule_ensure()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    other_host = f"{socket.gethostname()}-2-{gone.pid}-sweeps"
    DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path).update(
        status="RUNNING", started_at=timezone.now(), worker_ids=[other_host]
    )

    assert tasks.schedule_ensure() == 0
    runs = DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path)
    assert list(runs.values_list("status", flat=True)) == ["RUNNING"]


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

    tasks.purge_records.call()

    left = DBTaskResult.objects.exclude(status="READY").values_list("queue_name", flat=True)
    assert list(left) == []


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


@pytest.mark.parametrize("interval", ["-1", "0", "nan", "inf", "soon"])
def test_a_poll_interval_that_is_not_a_positive_number_of_seconds_is_refused(interval):
    """`--interval -1` started a worker whose every idle poll raised (time.sleep(-1)): it
    failed and started again each second, for ever, a traceback in the log each time; 0
    polled the database without a pause."""
    from django.core.management import CommandError

    from jobs.management.commands.worker import Command

    parser = Command().create_parser("manage.py", "worker")

    with pytest.raises(CommandError, match="--interval"):
        parser.parse_args(["--interval", interval])


@pytest.mark.django_db
def test_a_commands_output_is_logged_up_to_a_bound_and_the_rest_counted(caplog):
    """ledger_check lists every account that fails: a drift across many accounts made one log
    line as long as the whole listing, held whole in the worker's memory and longer than a
    log pipeline takes."""
    printed = io.StringIO()
    call_command("dumpdata", verbosity=0, stdout=printed)
    whole = printed.getvalue()
    caplog.set_level(logging.INFO, logger="jobs.tasks")

    tasks._command("dumpdata", logged=500)

    (line,) = [record.getMessage() for record in caplog.records if record.name == "jobs.tasks"]
    head, _, note = line.partition("\n… ")
    assert len(whole) > 5000
    assert head == "dumpdata:\n" + whole[:500].rstrip()
    assert note == f"{len(whole) - 500} more characters not logged (run the command by hand)"
