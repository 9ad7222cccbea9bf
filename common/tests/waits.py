"""Waits made real for tests: a lock held by a transaction of the test's own, as a stuck
transaction would hold it, and timeouts of the test's choosing (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
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
