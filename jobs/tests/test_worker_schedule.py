"""`manage.py worker` as a real process: deliveries survive a SIGKILL, sweeps run once."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from common.locks import exclusive_lock, place
from jobs import tasks
from jobs.metrics import SweepsCollector
from jobs.tests.test_worker_process import start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


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
    previous_life = f"{place()}-{os.getpid()}-sweeps"
    DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path).update(
        status="RUNNING",
        started_at=timezone.now() - timedelta(minutes=1),
        worker_ids=[previous_life],
    )

    assert tasks.schedule_ensure() == 1
    runs = DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path)
    assert sorted(runs.values_list("status", flat=True)) == ["FAILED", "READY"]


def test_a_run_marked_failed_for_a_worker_that_died_says_so_in_the_log(monkeypatch, caplog):
    """worker_sweep_failures counts such a run, and its docs send the operator to the log for
    each failure's error: a run whose worker died wrote none, and nothing else said which
    sweep it was or why."""
    tasks.schedule_ensure()
    monkeypatch.setattr(tasks, "PROCESS_STARTED_AT", timezone.now(), raising=False)
    DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path).update(
        status="RUNNING",
        started_at=timezone.now() - timedelta(minutes=1),
        worker_ids=[f"{place()}-{os.getpid()}-sweeps"],
    )
    caplog.clear()

    tasks.schedule_ensure()

    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "jobs.tasks"]
    assert len(lines) == 1
    assert lines[0][0] == "WARNING"
    assert "jobs.tasks.expire_lots" in lines[0][1]
    assert "marked failed: its worker process is gone" in lines[0][1]


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


def gone_pid() -> int:
    """A process id that no process of this pid namespace has now."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def pid_namespaces() -> bool:
    """Whether this machine lets the tests start a process in a pid namespace of its own
    (root, with the capability to make namespaces: not every container has it)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = ["unshare", "--pid", "--fork", "--mount-proc", "true"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not pid_namespaces(), reason="needs unshare --pid (root)")
def test_a_live_workers_run_in_another_pid_namespace_of_this_hosts_name_is_left_running():
    """Two workers may share a host's name in separate pid namespaces (containers given one
    hostname, a pod's container restarted beside its old one): the other's live delivery
    shift was checked against this namespace's processes, where its pid is nobody's, and
    marked failed while it ran (a failure in the metrics, another shift queued beside it)."""
    pid = gone_pid()
    # A real worker, in a pid namespace of its own, whose process has that pid there.
    namespace = [
        *("unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL"),
        *("sh", "-c", f'echo {pid - 1} > /proc/sys/kernel/ns_last_pid && "$@"', "sh"),
    ]
    shifts = DBTaskResult.objects.filter(task_path=tasks.deliver_webhooks.module_path)
    worker = start_worker(wrapper=namespace)
    try:
        wait_for(lambda: shifts.filter(status="RUNNING").exists())
        (shift,) = shifts.filter(status="RUNNING")
        assert shift.worker_ids[0].rsplit("-", 2)[1] == str(pid)

        tasks.schedule_ensure()

        assert list(shifts.filter(pk=shift.pk).values_list("status", flat=True)) == ["RUNNING"]
        assert not shifts.filter(status="READY").exists()
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)


def test_a_run_of_an_older_worker_whose_id_has_no_pid_namespace_is_left_to_the_stale_path():
    """An older worker's `<host>-<pid>-<role>` does not say in which pid namespace its pid
    is: judged by it, a live run could be failed. It is given up once stale, as a run of a
    host that is gone."""
    tasks.schedule_ensure()
    older = f"{socket.gethostname()}-{gone_pid()}-sweeps"
    runs = DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path)
    runs.update(status="RUNNING", started_at=timezone.now(), worker_ids=[older])

    assert tasks.schedule_ensure() == 0
    assert list(runs.values_list("status", flat=True)) == ["RUNNING"]
    runs.update(started_at=timezone.now() - tasks.STALE_RUN - timedelta(minutes=1))
    assert tasks.schedule_ensure() == 1
    assert sorted(runs.values_list("status", flat=True)) == ["FAILED", "READY"]


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


def run_of_a_gone_host(job, *, started: timedelta) -> None:
    """`job`'s run claimed by a worker of a host that is gone (a pod's name changes with each
    restart): its processes cannot be seen from here, and it never says how the run ended."""
    tasks.schedule_ensure()
    DBTaskResult.objects.filter(task_path=job.module_path).update(
        status="RUNNING", started_at=timezone.now() - started, worker_ids=["gone-pod-7f9c-1-sweeps"]
    )


def test_a_run_of_a_gone_host_is_a_failure_in_the_metrics_once_it_is_stale():
    """It stayed RUNNING for ever: never counted in worker_sweep_failures, never purged (the
    purge deletes finished runs), so the operator never learned that the sweep had died."""
    run_of_a_gone_host(tasks.expire_lots, started=tasks.STALE_RUN + timedelta(minutes=1))

    assert tasks.schedule_ensure() == 1
    found = {
        (sample.name, sample.labels["sweep"]): sample.value
        for family in SweepsCollector().collect()
        for sample in family.samples
    }
    assert found[("worker_sweep_failures", "expire_lots")] == 1
    tasks.task_results_purge(older_than=timezone.now() + timedelta(seconds=1))
    runs = DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path)
    assert list(runs.values_list("status", flat=True)) == ["READY"]


def test_a_sweep_run_of_a_gone_worker_elsewhere_is_queued_again_once_its_lease_has_lapsed():
    """A worker killed mid-sweep in a container that was then restarted: the new one has a
    pid namespace of its own and cannot see the dead one's pids, and the dead run held its
    sweep back until STALE_RUN, lots and holds not expired for 15 minutes. A live run holds
    its lease from its start to its end."""
    run_of_a_gone_host(tasks.expire_holds, started=timedelta(minutes=4))

    assert tasks.schedule_ensure() == 1
    runs = DBTaskResult.objects.filter(task_path=tasks.expire_holds.module_path)
    assert sorted(runs.values_list("status", flat=True)) == ["FAILED", "READY"]


def test_a_sweep_run_elsewhere_that_holds_its_lease_is_left_running_with_nothing_beside():
    run_of_a_gone_host(tasks.expire_holds, started=timedelta(minutes=4))

    with exclusive_lock("job:expire_holds") as held:
        assert held
        assert tasks.schedule_ensure() == 0

    runs = DBTaskResult.objects.filter(task_path=tasks.expire_holds.module_path)
    assert list(runs.values_list("status", flat=True)) == ["RUNNING"]


def test_a_stale_run_of_another_host_whose_lease_is_held_is_left_running():
    """A sweep that runs longer than STALE_RUN (an hour's reconciliation, a first purge) renews
    its lease: it is alive, and is not marked failed before it ends."""
    run_of_a_gone_host(tasks.purge_records, started=tasks.STALE_RUN + timedelta(minutes=1))

    with exclusive_lock("job:purge_records") as held:
        assert held
        tasks.schedule_ensure()

    runs = DBTaskResult.objects.filter(task_path=tasks.purge_records.module_path)
    assert sorted(runs.values_list("status", flat=True)) == ["READY", "RUNNING"]
