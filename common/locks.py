"""A lease across processes and machines, for jobs that must not run twice at once."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, connections
from django.utils import timezone

from common.models import Lease

TERM = timedelta(seconds=60)
# Clocks of two machines differ a little: a lease only this much further ahead than a term
# is its live holder's, not one left by a clock that ran ahead.
SLACK = timedelta(minutes=1)

_TABLE = Lease._meta.db_table
_TAKE_SQL = f"""
INSERT INTO {_TABLE} (name, holder, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE {_TABLE}.expires_at < %s OR {_TABLE}.expires_at > %s
RETURNING holder
"""  # noqa: S608 (the table name comes from the model, values are parameters)
_RENEW_SQL = f"UPDATE {_TABLE} SET expires_at = %s WHERE name = %s AND holder = %s"  # noqa: S608
_RELEASE_SQL = f"DELETE FROM {_TABLE} WHERE name = %s AND holder = %s"  # noqa: S608


@contextmanager
def exclusive_lock(name: str, *, term: timedelta = TERM) -> Iterator[bool]:
    """Yields True when this process holds the lease `name`, False when another one does.

    The lease is a row taken with one conditional upsert, renewed every third of `term` by a
    thread while the block runs and deleted at the end. Each statement is a transaction of
    its own, so nothing depends on a database session (PgBouncer in transaction pooling is
    fine) and none stays open while the job calls other services. A holder that dies leaves
    a lease that lapses within `term`.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = timezone.now()
    with connection.cursor() as cursor:
        # A lease ending further ahead than a term was taken by a clock that ran ahead: its
        # holder may be dead, and it would have stood until that time came round.
        cursor.execute(
            _TAKE_SQL,
            [name, holder, _prepared(now + term), _prepared(now), _prepared(now + term + SLACK)],
        )
        held = cursor.fetchone() is not None
    if not held:
        yield False
        return
    done = threading.Event()
    renewer = threading.Thread(target=_renew, args=(name, holder, term, done), daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        done.set()
        renewer.join()
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, [name, holder])


def _renew(name: str, holder: str, term: timedelta, done: threading.Event) -> None:
    try:
        while not done.wait(term.total_seconds() / 3):
            with connections["default"].cursor() as cursor:
                cursor.execute(_RENEW_SQL, [_prepared(timezone.now() + term), name, holder])
    finally:
        connections.close_all()


def _prepared(moment):
    return Lease._meta.get_field("expires_at").get_db_prep_value(moment, connection)
