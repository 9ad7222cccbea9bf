"""Invoice numbers: INV-2026-000123, unique and increasing under any concurrency."""

from __future__ import annotations

from billing.models import InvoiceSequence
from common.db import fetched

_TABLE = InvoiceSequence._meta.db_table
_NEXT_SQL = f"""
INSERT INTO {_TABLE} (year, last_number) VALUES (%s, 1)
ON CONFLICT (year) DO UPDATE SET last_number = {_TABLE}.last_number + 1
RETURNING last_number
"""  # noqa: S608 (the table name comes from the model, values are parameters)


def invoice_number_next(*, year: int) -> str:
    """The next number of `year`, taken inside the caller's transaction.

    One upsert on PostgreSQL and SQLite alike. Its row lock is held until the caller commits,
    so numbers follow commit order with no gaps: a checkout that rolls back gives its number
    back. Call it last in the transaction, to hold the lock briefly.
    """
    ((number,),) = fetched(_NEXT_SQL, [year])
    return f"INV-{year}-{number:06d}"
