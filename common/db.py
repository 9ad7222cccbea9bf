"""Small database helpers shared by the apps."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


def savepoint_if_nested() -> AbstractContextManager:
    """A savepoint inside a caller's transaction, nothing outside one.

    For writes that are one statement (atomic by themselves in autocommit) but may fail on a
    unique constraint: outside a transaction they cost no BEGIN/COMMIT; inside one, the
    savepoint keeps the caller's transaction usable after the failure.
    """
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
