"""Migrations 0021 and 0022 build their indexes CONCURRENTLY on a live database: the build
waits for the transactions writing the table to finish, and a busy service always has
some."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest
from django.db import DatabaseError, connection, connections

from common.migration_indexes import index_create, index_drop
from common.tests.servers import the_test_database
from common.tests.waits import timeouts, wait_until

NAME = "tokens_usage_created_again"

pytestmark = pytest.mark.django_db(transaction=True)


def index_valid(name: str) -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [name],
        )
        found = cursor.fetchone()
    return None if found is None else found[0]


def build_waited_past(seconds: float) -> bool:
    """Whether an index build (or drop) has waited for a lock for more than `seconds` (from
    its start)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND (query LIKE 'CREATE INDEX CONCURRENTLY%%' "
            "OR query LIKE 'DROP INDEX CONCURRENTLY%%') "
            "AND now() - query_start > make_interval(secs => %s)",
            [seconds],
        )
        return cursor.fetchone()[0] > 0


def writer_until_the_build_waited(locked: threading.Event, built: threading.Event) -> None:
    """A transaction writing the usage table (an INSERT's lock), open until the index build
    has waited for it five times the lock timeout (200 ms), as a slow request's debit would
    be, or until the build has given up."""
    try:
        with psycopg.connect(**the_test_database()) as holder:
            holder.execute("LOCK TABLE tokens_usagerecord IN ROW EXCLUSIVE MODE")
            locked.set()
            wait_until(lambda: built.is_set() or build_waited_past(1.0), seconds=60)
            holder.rollback()
    finally:
        locked.set()
        connections.close_all()


def beside_a_long_write(migrate: Callable[[object], None]) -> object:
    """`migrate(schema_editor)` under a 200 ms lock timeout while another connection holds a
    write on the usage table past it; the index's state after (None when there is none, True
    when valid), or the first line of the error that stopped it."""
    locked, done = threading.Event(), threading.Event()
    writer = threading.Thread(target=writer_until_the_build_waited, args=(locked, done))
    with timeouts(lock_ms=200, statement_ms=15_000):
        writer.start()
        locked.wait(10)
        try:
            with connection.schema_editor(atomic=False) as editor:
                migrate(editor)
            outcome: object = index_valid(NAME)
        except DatabaseError as error:
            outcome = str(error).splitlines()[0]
        finally:
            done.set()
            writer.join()
            with connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX IF EXISTS {NAME}")
    return outcome


def test_the_index_is_built_past_a_write_longer_than_the_lock_timeout():
    """The build waited under the service's DB_LOCK_TIMEOUT (3 s), which `migrate` connects
    with: any write open longer than that (or a transaction holding an older snapshot, on
    any table) made `migrate` fail with "canceling statement due to lock timeout" and left
    an invalid index behind, on every try while the service was busy. Waiting costs nobody
    anything: a concurrent build blocks no reads or writes."""
    outcome = beside_a_long_write(
        lambda editor: index_create(editor, NAME, "tokens_usagerecord", "created_at")
    )

    assert outcome is True


def test_the_index_is_dropped_past_a_write_longer_than_the_lock_timeout():
    """Rolling 0021 or 0022 back drops the index CONCURRENTLY, which waits as the build does:
    under the lock timeout, a busy service made the rollback fail."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {NAME} ON tokens_usagerecord (created_at)")

    outcome = beside_a_long_write(lambda editor: index_drop(editor, NAME))

    assert outcome is None
