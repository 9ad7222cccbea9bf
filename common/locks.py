"""A lock across processes, for jobs that must not run twice at once."""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection


@contextmanager
def exclusive_lock(name: str) -> Iterator[bool]:
    """Yields True when this process holds the lock `name`, False when another one does.

    PostgreSQL: a session-level advisory lock, released at the end (or when the connection
    dies). SQLite: an OS lock on a file beside the database, released likewise.
    """
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            (held,) = cursor.fetchone()
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    path = Path(f"{connection.settings_dict['NAME']}.{name}.lock")
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
