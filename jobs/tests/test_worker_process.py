"""`manage.py worker` as a real process: deliveries survive a SIGKILL, sweeps run once."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction
from django_tasks_db.models import DBTaskResult

from events import services
from events.models import Delivery
from events.tests.receiver import Receiver
from jobs import tasks
from jobs.commands import command_run

pytestmark = pytest.mark.django_db(transaction=True)


ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    *, log: Path | None = None, wrapper: Sequence[str] = (), **settings: str
) -> subprocess.Popen:
    """`manage.py worker` on the test database, run by `wrapper` (a command that runs the
    rest of its arguments), if given; its output goes to `log`, if given."""
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
            [*wrapper, sys.executable, "manage.py", "worker", "--interval", "0.1"],
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


@pytest.mark.django_db
def test_a_commands_output_is_logged_up_to_a_bound_and_the_rest_counted(caplog):
    """ledger_check lists every account that fails: a drift across many accounts made one log
    line as long as the whole listing, held whole in the worker's memory and longer than a
    log pipeline takes."""
    printed = io.StringIO()
    call_command("dumpdata", verbosity=0, stdout=printed)
    whole = printed.getvalue()
    caplog.set_level(logging.INFO, logger="jobs.tasks")

    command_run("dumpdata", logged=500)

    (line,) = [record.getMessage() for record in caplog.records if record.name == "jobs.tasks"]
    head, _, note = line.partition("\n… ")
    assert len(whole) > 5000
    assert head == "dumpdata:\n" + whole[:500].rstrip()
    assert note == f"{len(whole) - 500} more characters not logged (run the command by hand)"
