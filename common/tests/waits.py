"""Waits made real for tests: a lock held by a transaction of the test's own, as a stuck
transaction would hold it, and timeouts of the test's choosing (PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection

from common.tests.servers import the_test_database


@contextmanager
def row_locked(sql: str, params: list) -> Iterator[None]:
    """A transaction of the test's own that holds the lock `sql` takes until the block ends."""
    with psycopg.connect(**the_test_database()) as holder:
        holder.execute(sql, params)
        yield
        holder.rollback()


@contextmanager
def timeouts(*, lock_ms: int, statement_ms: int) -> Iterator[None]:
    """This process's connections use other timeouts for the block (reconnecting)."""
    database = connection.settings_dict
    saved = database["TIMEOUTS"]
    connection.close()
    database["TIMEOUTS"] = {"lock_timeout": lock_ms, "statement_timeout": statement_ms}
    try:
        yield
    finally:
        connection.close()
        database["TIMEOUTS"] = saved


def wait_until(condition: Callable[[], bool], *, seconds: float = 10) -> None:
    """Polls `condition` until it holds or `seconds` pass (another thread's progress)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def sessions_waiting_on_a_lock() -> int:
    """How many of the test database's sessions wait for a lock now (also when asked inside
    a transaction, which would otherwise see the statistics as it first read them)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]
