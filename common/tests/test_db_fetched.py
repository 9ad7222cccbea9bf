"""`common.db.fetched`: the hot paths' plain SQL without Django's cursor on PostgreSQL, seen
as Django's cursor is seen by everything that watches statements: counted queries, execute
wrappers, Django's errors, a broken transaction refused, no call from an event loop nor on
another thread's connection, a closed connection opened again, a statement prepared after five
runs, and a RETURNING that matched nothing told from one that returned a row."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.transaction import TransactionManagementError

from common.db import fetched

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SQL = "SELECT %s + 1, %s"


def test_the_rows_are_the_cursors():
    with connection.cursor() as cursor:
        cursor.execute(SQL, [41, "a"])
        expected = cursor.fetchall()
    assert fetched(SQL, [41, "a"]) == expected == [(42, "a")]


def test_a_statement_is_counted_as_a_query(django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        fetched(SQL, [1, "b"])
    assert captured.captured_queries[0]["sql"].startswith("SELECT")


def test_an_execute_wrapper_sees_the_statement():
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, list(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert fetched(SQL, [2, "c"]) == [(3, "c")]
    assert seen == [(SQL, [2, "c"])]


def test_an_error_is_djangos():
    with pytest.raises(DatabaseError), transaction.atomic():
        fetched("SELECT * FROM no_such_table")


def test_a_broken_transaction_is_refused_before_the_database_is_asked():
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic(savepoint=False):
            fetched("SELECT * FROM no_such_table")
        with pytest.raises(TransactionManagementError):
            fetched(SQL, [3, "d"])


def test_inside_an_event_loop_it_is_refused():
    async def inside() -> None:
        fetched(SQL, [5, "f"])

    with pytest.raises(SynchronousOnlyOperation):
        asyncio.run(inside())


@pytest.mark.django_db(transaction=True)
def test_a_closed_connection_is_opened_again():
    connection.close()
    assert fetched(SQL, [4, "e"]) == [(5, "e")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares statements")
@pytest.mark.django_db(transaction=True)
def test_a_statement_run_five_times_is_prepared_as_djangos_cursor_would():
    statement = "SELECT %s::int * 7"
    for value in range(6):
        assert fetched(statement, [value]) == [(value * 7,)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [text for (text,) in cursor.fetchall()]
    assert any("$1::int * 7" in text for text in prepared)


def test_a_statement_without_rows_gives_none_and_is_done(django_assert_num_queries):
    """An INSERT on psycopg's connection and, counted, on Django's cursor."""
    fetched("CREATE TEMPORARY TABLE written (n integer)")

    assert fetched("INSERT INTO written (n) VALUES (%s)", [1]) == []
    with django_assert_num_queries(1):
        assert fetched("INSERT INTO written (n) VALUES (%s)", [2]) == []

    assert fetched("SELECT n FROM written ORDER BY n") == [(1,), (2,)]


def test_an_insert_returning_no_row_gives_none_and_one_returning_a_row_gives_it(
    django_assert_num_queries,
):
    """`[]` means "no row" for a RETURNING that matched nothing, as for a plain INSERT; a
    row returned is never taken for a statement without rows (psycopg's `rownumber`)."""
    fetched("CREATE TEMPORARY TABLE kept (n integer PRIMARY KEY)")
    insert = "INSERT INTO kept (n) VALUES (%s) ON CONFLICT DO NOTHING RETURNING n"

    assert fetched(insert, [1]) == [(1,)]
    assert fetched(insert, [1]) == []
    with django_assert_num_queries(2):
        assert fetched(insert, [2]) == [(2,)]
        assert fetched(insert, [2]) == []


@pytest.mark.django_db(transaction=True)
def test_each_thread_runs_on_its_own_connection_and_another_threads_is_refused():
    """Real threads: a connection looked up once and handed on stays its thread's own."""
    own = connections[DEFAULT_DB_ALIAS]
    fetched(SQL, [0, "main"], own)
    seen: list[object] = []
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    def work() -> None:
        try:
            barrier.wait()
            mine = connections[DEFAULT_DB_ALIAS]
            result = fetched(SQL, [1, "thread"], mine)
            try:
                fetched(SQL, [2, "borrowed"], own)
                refused = None
            except DatabaseError as error:
                refused = str(error)
            with lock:
                seen.append((mine is not own, result, refused))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) == 3
    for other, result, refused in seen:
        assert other
        assert result == [(2, "thread")]
        assert "same thread" in (refused or "")
