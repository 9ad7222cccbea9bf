"""The lease's renewal outlives a dropped connection (a failover, a database restart, an
operator's pg_terminate_backend): its thread died with the first failed renewal, with a
traceback outside the JSON log, and the lease lapsed while the sweep it guards still ran, so
another worker ran the same sweep at the same time. PostgreSQL only (SQLite has no
connection to lose)."""

import logging
import os
from datetime import timedelta

import pytest
from django.db import connection

from common.locks import exclusive_lock
from common.models import Lease
from common.tests.waits import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def sessions() -> set[int]:
    """The sessions of this process other than the test's own (a PgBouncer's, kept from
    earlier tests, carry this process's name too)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
            " AND pid <> pg_backend_pid()",
            [f"tokenbilling:{os.getpid()}"],
        )
        return {row[0] for row in cursor.fetchall()}


def terminate(pids: set[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def expires_at():
    return Lease.objects.get(name="job").expires_at


def test_a_lease_is_still_renewed_after_its_connection_drops(caplog):
    caplog.set_level(logging.WARNING, logger="common.locks")
    before = sessions()
    with exclusive_lock("job", term=timedelta(milliseconds=600)) as held:
        assert held
        wait_until(lambda: sessions() - before != set())
        dropped = sessions() - before  # the renewing thread's
        terminate(dropped)
        wait_until(lambda: not dropped & sessions())
        when_dropped = expires_at()

        wait_until(lambda: expires_at() > when_dropped)
        renewed = expires_at()
        # Another worker would find it held all along.
        with exclusive_lock("job", term=timedelta(milliseconds=600)) as other:
            assert not other

    assert renewed > when_dropped
    warnings = [r.getMessage() for r in caplog.records if r.name == "common.locks"]
    assert any("could not be renewed" in message for message in warnings)
