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


def require_transaction(operation: str) -> None:
    """For code whose writes are only correct as part of a larger change (a receiver of
    `invoice_paid`, the second half of a capture): outside a transaction they could commit
    alone, half done. Raises RuntimeError there."""
    if not connection.in_atomic_block:
        raise RuntimeError(f"{operation} must run inside its caller's transaction.")
