"""Django's PostgreSQL backend, with bounded waits on every statement: `lock_timeout` and
`statement_timeout` from DB_LOCK_TIMEOUT and DB_STATEMENT_TIMEOUT (the contract's "Nothing
waits forever"; settings put them in the database's `TIMEOUTS`, in milliseconds).

Straight to PostgreSQL they are the session's own settings, sent as startup options when the
connection opens: every statement, in a transaction or not, at no cost.

Behind PgBouncer in transaction pooling (`TRANSACTION_POOLING`) the session is not ours.
PgBouncer refuses startup options, and a session `SET` would stay on whichever server
connection ran it, for other clients, while our next transaction runs on another one. So
there each transaction sets them for itself right after BEGIN (`set_config(..., true)` is
`SET LOCAL`: it ends with the transaction), and a statement outside any transaction runs in
a transaction of its own that does the same. The cost: one statement per transaction, three
more round trips per statement outside one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.backends.postgresql import base
from django.utils.asyncio import async_unsafe

SET_LOCAL = "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)"
# Statements PostgreSQL refuses inside a transaction block: they run as they are.
NEVER_IN_A_TRANSACTION = re.compile(
    r"^\s*(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM)\b|\bCONCURRENTLY\b",
    re.IGNORECASE,
)


# A connection a request used this recently is not checked again (CONN_HEALTH_CHECKS).
HEALTH_CHECK_IDLE_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(_in_a_transaction_when_pooled)
        self._last_used_at = float("-inf")

    def close_if_health_check_failed(self) -> None:
        """Django's health check (`SELECT 1` before a request's first query) only for a
        connection that sat idle for a second or more, which is when a restarted database or
        a dropped socket shows: a busy worker's connection answered a moment ago, and the
        check would be one more round trip on every request. A connection that fails in the
        middle of a request is closed at its end either way."""
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.connection.closed
            and time.monotonic() - self._last_used_at < HEALTH_CHECK_IDLE_SECONDS
        ):
            self.health_check_done = True
        super().close_if_health_check_failed()
        self._last_used_at = time.monotonic()

    @async_unsafe
    def fetch(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """The rows of one statement (none for a statement that returns no rows), for the hot
        paths' plain SQL (the listings' catalog version, the balance, the ledger's functions,
        the idempotency record, checkout's cart, rows, number and event). Django's cursor
        costs about 55 µs of CPU a statement around psycopg's own (its wrapper, the execute
        wrappers' chain, a new cursor checked for its time zone), a tenth of a listing. While
        nothing watches its cursors, the statement runs on psycopg's connection with the same
        checks (a health check due, the connection opened, the thread and the event loop, a
        broken transaction refused), the same errors (Django's, through
        `wrap_database_errors`), the same cursor class (parameters bound by the server,
        prepared after five runs) and time zone (the connection's, which is Django's).
        Counted queries (`assertNumQueries`, DEBUG), an execute wrapper of anyone's and the
        timeouts set per transaction behind PgBouncer all take Django's cursor as before."""
        if self.queries_logged or self.timeouts_per_transaction or len(self.execute_wrappers) > 1:
            with self.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.rownumber is not None else []
        self.close_if_health_check_failed()
        self.ensure_connection()
        self.validate_thread_sharing()
        self.validate_no_broken_transaction()
        with self.wrap_database_errors, self.connection.execute(sql, params) as cursor:
            # No result to fetch (an INSERT): `rownumber` says so without building the
            # columns' list that `description` builds on every call.
            return cursor.fetchall() if cursor.rownumber is not None else []

    @property
    def timeouts(self) -> dict[str, int]:
        """`lock_timeout` and `statement_timeout` in milliseconds (0: none)."""
        return self.settings_dict.get("TIMEOUTS") or {}

    @property
    def timeouts_per_transaction(self) -> bool:
        return bool(self.timeouts) and bool(self.settings_dict.get("TRANSACTION_POOLING"))

    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        if self.settings_dict.get("TRANSACTION_POOLING"):
            # A prepared statement lives in the server session that prepared it, and the next
            # transaction may run on another one: "prepared statement does not exist".
            params["prepare_threshold"] = None
        if self.timeouts and not self.timeouts_per_transaction:
            startup = " ".join(f"-c {name}={value}" for name, value in self.timeouts.items())
            params["options"] = f"{params.get('options', '')} {startup}".strip()
        return params

    def _set_autocommit(self, autocommit: bool) -> None:
        super()._set_autocommit(autocommit)
        if not autocommit and self.timeouts_per_transaction:
            # psycopg sends BEGIN before this statement: it is the transaction's first.
            with self.wrap_database_errors:
                self.connection.execute(
                    SET_LOCAL,
                    [str(self.timeouts["lock_timeout"]), str(self.timeouts["statement_timeout"])],
                )


def _in_a_transaction_when_pooled(execute, sql, params, many, context):
    """Behind transaction pooling, a statement outside a transaction gets one, so that the
    timeouts apply to it too."""
    connection = context["connection"]
    if (
        not connection.timeouts_per_transaction
        or connection.in_atomic_block
        or not connection.get_autocommit()
        or (isinstance(sql, str) and NEVER_IN_A_TRANSACTION.search(sql))
    ):
        return execute(sql, params, many, context)
    with transaction.atomic(using=connection.alias):
        return execute(sql, params, many, context)
