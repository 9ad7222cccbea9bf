"""The lease behind `reconcile_purchases`: one holder at a time, lapsing when it dies."""

import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import timedelta

import pytest
from django.utils import timezone

from common.locks import exclusive_lock, lease_held, place
from common.models import Lease

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


def test_a_lease_is_held_by_one_holder_at_a_time_and_released_at_the_end():
    with exclusive_lock("job") as first:
        with exclusive_lock("job") as second:
            assert (first, second) == (True, False)
        assert Lease.objects.get(name="job").expires_at > timezone.now()

    assert not Lease.objects.exists()
    with exclusive_lock("job") as again:
        assert again


def test_leases_of_different_names_do_not_meet():
    with exclusive_lock("one") as one, exclusive_lock("two") as two:
        assert (one, two) == (True, True)


def test_the_lease_of_a_holder_that_died_lapses():
    Lease.objects.create(
        name="job", holder="gone:1:dead", expires_at=timezone.now() - timedelta(seconds=1)
    )

    with exclusive_lock("job") as held:
        assert held
        assert Lease.objects.get(name="job").holder != "gone:1:dead"


def test_a_running_holder_renews_its_lease():
    term = timedelta(milliseconds=300)
    with exclusive_lock("job", term=term) as held:
        assert held
        first = Lease.objects.get(name="job").expires_at
        renewed = first
        for _ in range(100):
            renewed = Lease.objects.get(name="job").expires_at
            if renewed > first:
                break
            time.sleep(0.02)  # the renewing thread runs every 100 ms

    assert renewed > first


def test_a_lease_ending_further_ahead_than_a_term_lapses():
    """Taken while its holder's clock ran a year ahead (a machine booting before its clock is
    set): it stood for that year, and the sweep it guards never ran."""
    Lease.objects.create(
        name="job", holder="ahead:1:gone", expires_at=timezone.now() + timedelta(days=365)
    )

    with exclusive_lock("job") as held:
        assert held
        assert Lease.objects.get(name="job").holder != "ahead:1:gone"


def test_a_live_holder_whose_clock_is_a_little_ahead_keeps_its_lease():
    Lease.objects.create(
        name="job", holder="ahead:1:alive", expires_at=timezone.now() + timedelta(seconds=61)
    )

    with exclusive_lock("job") as held:
        assert not held
    assert Lease.objects.get(name="job").holder == "ahead:1:alive"


def test_the_lease_of_a_process_of_this_host_that_is_gone_is_taken_over_at_once():
    """A worker killed and started again at once found its dead life's lease standing for up
    to a minute, and put the job off a whole period."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{place()}:{gone.pid}:dead"
    Lease.objects.create(name="job", holder=dead, expires_at=timezone.now() + timedelta(seconds=50))

    with exclusive_lock("job") as held:
        assert held
        assert Lease.objects.get(name="job").holder != dead


def test_the_lease_of_a_gone_process_id_in_another_pid_namespace_of_this_host_is_left_to_lapse():
    """Two workers may share a host's name in separate pid namespaces (containers on the
    host's network, replicas given one hostname): a pid unknown here may be alive there. By
    the host's name alone, each took the other's live lease, and both ran the same sweep."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    elsewhere = f"{socket.gethostname()}/another-namespace:{gone.pid}:alive-there"
    Lease.objects.create(
        name="job", holder=elsewhere, expires_at=timezone.now() + timedelta(seconds=50)
    )

    with exclusive_lock("job") as held:
        assert not held
    assert Lease.objects.get(name="job").holder == elsewhere


def test_the_lease_of_a_live_process_of_this_host_is_left_to_it():
    alive = f"{place()}:{os.getppid()}:alive"
    Lease.objects.create(
        name="job", holder=alive, expires_at=timezone.now() + timedelta(seconds=50)
    )

    with exclusive_lock("job") as held:
        assert not held
    assert Lease.objects.get(name="job").holder == alive


def test_the_lease_of_an_earlier_life_of_this_process_id_is_taken_over_at_once():
    """A container's worker is pid 1 again after a restart: its dead life's lease has this
    process's id, and is none of the leases this process holds."""
    earlier = f"{place()}:{os.getpid()}:earlier"
    Lease.objects.create(
        name="job", holder=earlier, expires_at=timezone.now() + timedelta(seconds=50)
    )

    with exclusive_lock("job") as held:
        assert held
        with exclusive_lock("job") as again:
            assert not again


@pytest.mark.sqlite
@pytest.mark.parametrize("skew", [timedelta(minutes=-2), timedelta(minutes=2)], ids=str)
def test_a_lease_taken_on_a_machine_whose_clock_is_off_is_held_for_the_others(monkeypatch, skew):
    """Each holder took, renewed and judged a lease by its own machine's clock: one two
    minutes behind wrote a lease that had lapsed already by the others' clocks, one two
    minutes ahead a lease too far ahead to be a live holder's. Either way another worker
    took it while the first still ran the job, and both ran the same sweep; and a machine
    whose clock ran ahead judged a live lease lapsed (and its sweep's run dead)."""
    right_now = timezone.now
    with ExitStack() as first:
        with monkeypatch.context() as clock:
            clock.setattr(timezone, "now", lambda: right_now() + skew)
            held = first.enter_context(exclusive_lock("job"))
        taker = Lease.objects.get(name="job").holder

        with exclusive_lock("job") as second:
            assert (held, second) == (True, False)
        assert Lease.objects.get(name="job").holder == taker
        with monkeypatch.context() as clock:
            clock.setattr(timezone, "now", lambda: right_now() + timedelta(minutes=2))
            assert lease_held("job")
