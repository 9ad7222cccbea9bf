"""Indexes built by migrations on tables that are written all the time (the ledger, usage,
invoices): CONCURRENTLY on PostgreSQL, so that writes go on while an index is built, without
the statement and lock timeouts (a build waits for the transactions open when it starts),
and after a leftover invalid index of a failed attempt is dropped; on SQLite a plain CREATE
INDEX, which does not rebuild the table (a rebuild would drop its triggers,
docs/decisions.md). A migration that uses them sets `atomic = False`: CONCURRENTLY cannot
run inside a transaction."""

from collections.abc import Iterator
from contextlib import contextmanager


def index_create(schema_editor, name: str, table: str, column: str, where: str = "") -> None:
    """CREATE INDEX CONCURRENTLY on PostgreSQL (a leftover invalid one dropped first),
    CREATE INDEX on SQLite; a partial index when `where` is given."""
    partial = f" WHERE {where}" if where else ""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column}){partial}")
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [name],
        )
        found = cursor.fetchone()
        if found and found[0]:
            return
        with _no_timeouts(schema_editor, cursor):
            if found:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(f"CREATE INDEX CONCURRENTLY {name} ON {table} ({column}){partial}")


@contextmanager
def _no_timeouts(schema_editor, cursor) -> Iterator[None]:
    """A concurrent build or drop waits for every transaction writing the table, or holding
    an older snapshot on any table, to end: under the service's lock timeout (3 s) one busy
    moment failed the migration and left an invalid index. Its waits block no reads or
    writes, so neither timeout applies. Behind transaction pooling the timeouts are set per
    transaction (none applies here), and a session SET would stay on a server connection
    that other clients then share."""
    session_timeouts = not getattr(schema_editor.connection, "timeouts_per_transaction", True)
    if session_timeouts:
        cursor.execute("SET statement_timeout = 0")
        cursor.execute("SET lock_timeout = 0")
    try:
        yield
    finally:
        if session_timeouts:
            cursor.execute("RESET statement_timeout")
            cursor.execute("RESET lock_timeout")


def index_drop(schema_editor, name: str) -> None:
    """The reverse, under the same rule: a concurrent drop waits as a build does."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        return
    with schema_editor.connection.cursor() as cursor, _no_timeouts(schema_editor, cursor):
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
