"""Transactions: all-or-nothing writes, savepoints only where needed, and what a database
that gave up waiting or rolled one back for another means for the caller."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, TypeVar

from django.db import (
    DEFAULT_DB_ALIAS,
    OperationalError,
    connection,
    connections,
    transaction,
)

# PostgreSQL's lock_not_available (DB_LOCK_TIMEOUT) and query_canceled (DB_STATEMENT_TIMEOUT).
GAVE_UP_WAITING = {"55P03", "57014"}
# deadlock_detected and serialization_failure: PostgreSQL rolled the transaction back to let
# another go on; the same work again may well succeed.
ROLLED_BACK_FOR_ANOTHER = {"40P01", "40001"}

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

R = TypeVar("R")


def savepoint_if_nested(database: BaseDatabaseWrapper | None = None) -> AbstractContextManager:
    """A savepoint inside a caller's transaction, nothing outside one.

    For writes that are one statement (atomic by themselves in autocommit) but may fail on a
    unique constraint: outside a transaction they cost no BEGIN/COMMIT; inside one, the
    savepoint keeps the caller's transaction usable after the failure. Inside
    `all_or_nothing()` there is no savepoint: a failure ends that whole transaction. On
    `database`, the default connection a caller has already looked up (each look-up costs
    about 17,000 instructions), or looked up here.
    """
    database = database or connections[DEFAULT_DB_ALIAS]
    if not database.in_atomic_block or getattr(database, "all_or_nothing", False):
        return nullcontext()
    return transaction.atomic()


@contextmanager
def all_or_nothing() -> Iterator[BaseDatabaseWrapper]:
    """A transaction whose caller rolls it back whole on any database error and then answers
    from what is committed (an idempotent request: the first request's stored answer).

    Writes inside it skip their savepoints (two statements each): a unique violation then
    breaks the transaction (the next query fails), which is what its caller expects; a
    refusal raised in Python (a short balance) leaves it usable. Gives the connection it
    looked up, for the caller's own statements.
    """
    # Looked up once: each use of django.db.connection (a write too) looks it up again.
    database = connections[DEFAULT_DB_ALIAS]
    with transaction.atomic():
        outer = getattr(database, "all_or_nothing", False)
        database.all_or_nothing = True
        try:
            yield database
        finally:
            database.all_or_nothing = outer


def in_all_or_nothing() -> bool:
    """Whether this runs inside `all_or_nothing()`: there a database error has broken the
    transaction, and its caller answers for it."""
    return getattr(connection, "all_or_nothing", False)


def atomic_step() -> AbstractContextManager:
    """A transaction of its own outside one; a savepoint inside a caller's transaction;
    inside `all_or_nothing()` neither (two statements saved): any failure there ends the
    whole transaction, which its caller rolls back and answers for."""
    return transaction.atomic(savepoint=not in_all_or_nothing())


def require_transaction(operation: str, database: BaseDatabaseWrapper | None = None) -> None:
    """For code whose writes are only correct as part of a larger change (a receiver of
    `invoice_paid`, the second half of a capture): outside a transaction they could commit
    alone, half done. Raises RuntimeError there. On `database`, the default connection a
    caller has already looked up, or looked up here."""
    if not (database or connection).in_atomic_block:
        raise RuntimeError(f"{operation} must run inside its caller's transaction.")


def atomic_if_needed(database: BaseDatabaseWrapper | None = None) -> AbstractContextManager:
    """A transaction when there is none yet; inside one, nothing more (no savepoint): for a
    change whose follow-up writes (an event, say) must commit with it. On `database`, the
    default connection a caller has already looked up, or looked up here."""
    return nullcontext() if (database or connection).in_atomic_block else transaction.atomic()


def database_busy(error: BaseException) -> bool:
    """Whether the database gave up waiting for this statement: a lock held longer than
    DB_LOCK_TIMEOUT, a statement running longer than DB_STATEMENT_TIMEOUT, a deadlock it
    ended by rolling this transaction back, or SQLite's busy timeout. Its transaction rolled
    back, so nothing of it happened and a retry may succeed: the API answers 503 `busy`
    with Retry-After."""
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) in GAVE_UP_WAITING | ROLLED_BACK_FOR_ANOTHER:
        return True
    return isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)


def database_rolled_back_for_another(error: BaseException) -> bool:
    """Whether PostgreSQL ended this transaction to resolve a deadlock (or a serialization
    failure): a busy answer (database_busy) that is worth one retry at once."""
    cause = error.__cause__ if isinstance(error, OperationalError) else None
    return getattr(cause, "sqlstate", None) in ROLLED_BACK_FOR_ANOTHER


def once_more_if_rolled_back_for_another(work: Callable[[], R]) -> R:
    """Runs `work`, a transaction of its own, and once more at once when PostgreSQL rolled
    it back to end a deadlock (database_rolled_back_for_another): nothing of the first try
    remains, and the other transaction has gone on. For work whose lock orders can meet in
    a rare circle that no order removes. Inside a caller's transaction it runs once: that
    transaction is broken, and its caller answers for it (503 busy)."""
    if connection.in_atomic_block:
        return work()
    try:
        return work()
    except OperationalError as error:
        if not database_rolled_back_for_another(error):
            raise
    return work()
