"""The worker's work, as django-tasks tasks stored in the database (django-tasks-db):
delivering webhooks, and the sweeps on a schedule. A scheduled task puts its next run in the
queue when it ends; `schedule_ensure` (at the worker's start, and from every delivery shift)
puts back any that is missing, so a worker killed mid-task loses nothing. Each sweep holds a
lease (common.locks) while it runs, so two workers never run the same sweep at once."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management import call_command
from django.db.models import Max, Q
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult, get_date_max

from accounts import services as accounts_services
from billing.services import reconcile
from common import services as common_services
from common.locks import SLACK as LEASE_SLACK
from common.locks import TERM as LEASE_TERM
from common.locks import exclusive_lock, lease_held, place
from events import services as events_services
from events.dispatch import Dispatcher
from jobs.commands import command_run
from tokens import services as token_services

logger = logging.getLogger(__name__)

DELIVERY_SHIFT_SECONDS = 30
STALE_RUN = timedelta(minutes=15)
STALE_SHIFT = timedelta(minutes=2)
CLOCK_SLACK = timedelta(minutes=1)
# A sweep's run this old whose lease is not held is dead: a live one takes the lease at its
# start (once schedule_ensure has run) and holds it to its end.
LEASELESS_RUN = LEASE_TERM + LEASE_SLACK + CLOCK_SLACK
# Task results deleted per statement by the daily purge.
PURGE_BATCH = 50_000
# When this process began: no run it claimed can have started before.
PROCESS_STARTED_AT = timezone.now()
_dispatcher: Dispatcher | None = None
# Set when the worker is told to stop (SIGTERM): the delivery shift ends early, once the
# outcomes of what it sent are recorded (manage.py worker waits for that).
DELIVERIES_STOPPING = threading.Event()


@task(queue_name="deliveries")
def deliver_webhooks() -> None:
    """A shift of sending due deliveries; the next shift is queued when it ends."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = Dispatcher()
    schedule_ensure()
    try:
        _dispatcher.run_for(DELIVERY_SHIFT_SECONDS, stop=DELIVERIES_STOPPING)
    finally:
        _reschedule(deliver_webhooks, timedelta(0))


def _sweep(name: str, every: timedelta, work: Callable[[], object]) -> None:
    """Runs `work` under the sweep's lease, then queues the next run a period on. Skipped
    (the lease held), the next try is once a lease could have lapsed: the holder may be a
    killed worker whose lease stands until then (one elsewhere cannot be taken over), and a
    run put off a period put the daily purge off a day each time."""
    schedule_ensure()
    held = False
    try:
        with exclusive_lock(f"job:{name}") as held:
            if held:
                work()
            else:
                logger.info("%s is running in another worker; skipped", name)
    finally:
        _reschedule(SCHEDULE[name][0], every if held else min(every, LEASE_TERM + LEASE_SLACK))


@task()
def expire_lots() -> None:
    def work() -> None:
        """The warnings go out also when the sweep could not book some accounts (it raises
        once it has booked the others): they are other rows. The task still fails."""
        try:
            token_services.lots_expire()
        finally:
            token_services.lots_warn_expiring()

    _sweep("expire_lots", timedelta(minutes=1), work)


@task()
def expire_holds() -> None:
    _sweep("expire_holds", timedelta(minutes=1), token_services.holds_expire)


@task()
def expire_subscriptions() -> None:
    """Ended periods each minute, as lots and holds: reconciliation, hourly and after Stripe's
    answers, told the seller's systems of an ended plan up to an hour late."""
    _sweep("expire_subscriptions", timedelta(minutes=1), reconcile.ended_subscriptions_expire)


@task()
def reconcile_purchases() -> None:
    # Exit codes 3 (Stripe failed: down, its key revoked) and 5 (invoices left) fail the run.
    _sweep(
        "reconcile_purchases",
        timedelta(hours=1),
        lambda: command_run("reconcile_purchases", failing=(3, 5)),
    )


@task()
def ledger_check() -> None:
    _sweep("ledger_check", timedelta(hours=1), lambda: command_run("ledger_check"))


class PurgesFailed(Exception):
    """Some of the day's purges failed (each is logged); the others ran."""


@task()
def purge_records() -> None:
    purges = {
        "idempotency records": lambda: common_services.idempotency_records_purge(
            older_than=timezone.now() - common_services.RETENTION
        ),
        "events": lambda: events_services.events_purge(
            older_than=timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
        ),
        # Every queue: the delivery shifts (a result every 30 s) run on `deliveries`.
        "task results": lambda: task_results_purge(older_than=timezone.now() - timedelta(days=1)),
        "sessions": lambda: call_command("clearsessions", verbosity=0),
        "revoked refresh tokens": lambda: accounts_services.revoked_refresh_tokens_purge(
            now=timezone.now()
        ),
    }

    def work() -> None:
        """Each purge on its own: one that fails (a table it cannot lock today) leaves the
        others to run, and the task still fails, so the operator sees it."""
        failed = []
        for name, purge in purges.items():
            try:
                purge()
            except Exception:  # logged with its traceback; the next purge still runs
                logger.exception("The purge of %s failed; the other purges go on.", name)
                failed.append(name)
        if failed:
            raise PurgesFailed(", ".join(failed))

    _sweep("purge_records", timedelta(days=1), work)


def task_results_purge(*, older_than: datetime) -> int:
    """Deletes the results of runs that finished before `older_than`, of every queue, but
    each sweep's last success; returns how many. That one is what
    worker_sweep_last_success_timestamp_seconds reads (jobs.metrics): the daily purge runs
    a day after the last one ended and deleted its own last success, so the series was
    absent while it ran, and from the day one failed, where the alerts looked for it two
    days old. In batches, each its own statement and transaction (django-tasks-db's prune
    command deletes them all in one): a deployment's first purge meets months of delivery
    shifts, and one DELETE of them grows with the backlog until it outlasts the statement
    timeout, then fails every day with nothing gained. Each batch deletes every row it
    selects, so it needs no order to progress (and finished_at has no index to sort the
    backlog by); the ids stay in the database (a subquery), none go to and fro."""
    finished = (
        DBTaskResult.objects.finished()
        .filter(finished_at__lt=older_than)
        .exclude(pk__in=_last_successes())
        .order_by()
    )
    purged = 0
    while True:
        batch = DBTaskResult.objects.filter(pk__in=finished.values("pk")[:PURGE_BATCH])
        deleted = batch.delete()[0]
        purged += deleted
        if deleted < PURGE_BATCH:
            return purged


def _last_successes() -> list:
    """The id of each sweep's last success (of two that ended at once, either)."""
    sweeps = [job.module_path for job, _ in SCHEDULE.values() if job is not deliver_webhooks]
    successes = DBTaskResult.objects.filter(task_path__in=sweeps, status="SUCCESSFUL")
    ends = successes.values_list("task_path").annotate(Max("finished_at")).order_by()
    if not ends:
        return []
    last = Q()
    for path, finished_at in ends:
        last |= Q(task_path=path, finished_at=finished_at)
    return list(dict(successes.filter(last).values_list("task_path", "pk")).values())


SCHEDULE = {
    "deliver_webhooks": (deliver_webhooks, timedelta(0)),
    "expire_lots": (expire_lots, timedelta(minutes=1)),
    "expire_holds": (expire_holds, timedelta(minutes=1)),
    "expire_subscriptions": (expire_subscriptions, timedelta(minutes=1)),
    "reconcile_purchases": (reconcile_purchases, timedelta(hours=1)),
    "ledger_check": (ledger_check, timedelta(hours=1)),
    "purge_records": (purge_records, timedelta(days=1)),
}


def _queued(job, every: timedelta) -> bool:
    """Waiting to run, or running and not given up for dead. A run due further ahead than its
    period (and a minute) was queued by a clock that ran ahead, and would have held the job
    back until that time came round: it is given up."""
    path = job.module_path
    waiting = DBTaskResult.objects.filter(task_path=path, status="READY")
    # (A run without a time to wait for is stored as due at the greatest date.)
    ahead = waiting.filter(run_after__gt=timezone.now() + every + CLOCK_SLACK)
    for run in ahead.exclude(run_after=get_date_max()):
        _run_fail(run, "queued for later by a clock that ran ahead")
    stale = STALE_SHIFT if job is deliver_webhooks else STALE_RUN
    running = DBTaskResult.objects.filter(task_path=path, status="RUNNING")
    dead = min(stale, LEASELESS_RUN)
    _fail_stale(running.filter(started_at__lt=timezone.now() - dead), job, dead)
    return waiting.exists() or running.filter(started_at__gte=timezone.now() - stale).exists()


def _fail_stale(runs, job, stale: timedelta) -> None:
    """Runs given up for dead (older than a delivery shift's STALE_SHIFT, or a sweep's
    LEASELESS_RUN) are marked failed, unless their sweep's lease is still held (one that
    runs long renews it). A run of a worker on a host that is gone (a pod's name changes
    with each restart) stayed RUNNING for ever: never counted in worker_sweep_failures,
    never purged. A sweep's run was given up only after STALE_RUN, and its sweep was not
    queued again meanwhile: a worker killed mid-sweep in a container since restarted (a pid
    namespace of its own, _reap_dead_runs) held lots' and holds' expiry back 15 minutes."""
    runs = list(runs)
    if not runs or lease_held(f"job:{job.name}"):
        return
    for run in runs:
        _run_fail(run, f"it has run longer than {stale} without its lease: its worker is gone")


def _reap_dead_runs() -> None:
    """Runs claimed by a worker process of this place (host and pid namespace) that no
    longer exists (killed) are marked failed, so their job is queued again at once rather
    than once stale. A run of this process's pid started before this process did was
    claimed by an earlier life of this place's worker (a systemd restart may reuse the pid).
    A run claimed elsewhere is left to the stale path (_fail_stale): by the host's name
    alone, a live worker's run in another container of that name was checked against this
    container's pids and marked failed (a failure in the metrics, and its job queued again
    while it ran), and a dead one's was kept while its pid was alive here. So is a run of an
    older worker, whose id does not say its pid namespace."""
    here = place()
    for run in DBTaskResult.objects.filter(status="RUNNING"):
        # A worker's id is `<place>-<pid>-<role>`; the place is matched whole (a host `web`
        # must not check `web-2`'s pids against its own processes). An older worker's
        # `<host>-<pid>-<role>` matches no place: a host's name has no "/".
        claims = [worker.rsplit("-", 2) for worker in run.worker_ids]
        pids = [
            int(claim[1])
            for claim in claims
            if len(claim) == 3 and claim[0] == here and claim[1].isdigit()
        ]
        if pids and not any(_alive(pid, run.started_at) for pid in pids):
            _run_fail(run, "its worker process is gone")


def runs_abandon(*, worker_id: str) -> None:
    """The runs a worker was in when it failed are over (a job that died with its database
    connection could not say so): marked failed, and their jobs queued again at once rather
    than once stale (_fail_stale)."""
    for run in DBTaskResult.objects.filter(status="RUNNING"):
        if worker_id in run.worker_ids:
            _run_fail(run, f"the {worker_id} worker failed while it ran")
    schedule_ensure()


def _run_fail(run: DBTaskResult, why: str) -> None:
    """Marks a run that will never finish failed, saying why: its worker could not."""
    runs = DBTaskResult.objects.filter(pk=run.pk, status=run.status)
    if runs.update(status="FAILED", finished_at=timezone.now()):
        logger.warning("The run %s of %s is marked failed: %s.", run.pk, run.task_path, why)


def _alive(pid: int, run_started_at: datetime | None) -> bool:
    if pid == os.getpid():
        return run_started_at is None or run_started_at >= PROCESS_STARTED_AT
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reschedule(job, after: timedelta) -> None:
    if not DBTaskResult.objects.filter(task_path=job.module_path, status="READY").exists():
        job.using(run_after=timezone.now() + after).enqueue()


def schedule_ensure() -> int:
    """Queues every scheduled job that has no run waiting (or alive); returns how many."""
    _reap_dead_runs()
    queued = 0
    for job, every in SCHEDULE.values():
        if not _queued(job, every):
            job.enqueue()
            queued += 1
    return queued
