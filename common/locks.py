"""A lease across processes and machines, for jobs that must not run twice at once."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, connections
from django.db.models.functions import Now

from common.models import Lease
from common.outage import warn_database_error

logger = logging.getLogger(__name__)

TERM = timedelta(seconds=60)
# A lease only this much further ahead than a term is its live holder's, not one left by a
# clock that ran ahead (an older worker's, which wrote its machine's time; the database's
# set back).
SLACK = timedelta(minutes=1)

_TABLE = Lease._meta.db_table
# `{now}`, `{later}` and `{ahead}`: the database's clock now, a term on, and a term and SLACK
# on (_clock).
_TAKE_SQL = f"""
INSERT INTO {_TABLE} (name, holder, expires_at) VALUES (%s, %s, {{later}})
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE {_TABLE}.expires_at < {{now}} OR {_TABLE}.expires_at > {{ahead}}
RETURNING holder
"""  # noqa: S608 (the table name comes from the model, values are parameters)
_RENEW_SQL = f"UPDATE {_TABLE} SET expires_at = {{later}} WHERE name = %s AND holder = %s"  # noqa: S608
_RELEASE_SQL = f"DELETE FROM {_TABLE} WHERE name = %s AND holder = %s"  # noqa: S608
_HOLDER_SQL = f"SELECT holder FROM {_TABLE} WHERE name = %s"  # noqa: S608
_TAKE_OVER_SQL = (
    f"UPDATE {_TABLE} SET holder = %s, expires_at = {{later}}"  # noqa: S608
    " WHERE name = %s AND holder = %s"
)
# The holders of this process's leases now: one of this host and pid that is none of them
# was taken by an earlier life of this host's worker (a container restarted is pid 1 again).
_holding: set[str] = set()


@contextmanager
def exclusive_lock(name: str, *, term: timedelta = TERM) -> Iterator[bool]:
    """Yields True when this process holds the lease `name`, False when another one does.

    The lease is a row taken with one conditional upsert, renewed every third of `term` by a
    thread while the block runs and deleted at the end. Each statement is a transaction of
    its own, so nothing depends on a database session (PgBouncer in transaction pooling is
    fine) and none stays open while the job calls other services. A holder that dies leaves
    a lease that lapses within `term`, or is taken over at once in this place
    (_taken_over).
    """
    holder = f"{place()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    # Ours from before it is taken: another thread must never see it as a dead life's.
    _holding.add(holder)
    held = False
    try:
        held = _taken(name, holder, term) or _taken_over(name, holder, term)
    finally:
        if not held:
            _holding.discard(holder)
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
        _holding.discard(holder)
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, [name, holder])


def lease_held(name: str) -> bool:
    """Whether a holder has the lease `name` now: it has not lapsed by the database's clock,
    as `exclusive_lock` would find it."""
    return Lease.objects.filter(name=name, expires_at__gte=Now()).exists()


def _taken(name: str, holder: str, term: timedelta) -> bool:
    """Takes the lease unless a live holder has it."""
    later, at_later = _clock(connection, term)
    now, at_now = _clock(connection, timedelta(0))
    # A lease ending further ahead than a term was taken by a clock that ran ahead (an older
    # worker's, which wrote its own machine's time): its holder may be dead, and it would
    # have stood until that time came round.
    ahead, at_ahead = _clock(connection, term + SLACK)
    with connection.cursor() as cursor:
        cursor.execute(
            _TAKE_SQL.format(later=later, now=now, ahead=ahead),
            [name, holder, *at_later, *at_now, *at_ahead],
        )
        return cursor.fetchone() is not None


def _taken_over(name: str, holder: str, term: timedelta) -> bool:
    """Takes the lease from a holder in this place (host and pid namespace) whose process is
    gone (killed): a worker started again at once found its dead life's lease standing for
    up to a term, and skipped the job as "running in another worker". One conditional
    UPDATE: of two taking it over, one does. A holder elsewhere (another host, another
    container) is left to lapse: its processes cannot be seen from here."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLDER_SQL, [name])
        row = cursor.fetchone()
        if row is None or not _gone(row[0]):
            return False
        later, at_later = _clock(connection, term)
        cursor.execute(_TAKE_OVER_SQL.format(later=later), [holder, *at_later, name, row[0]])
        if cursor.rowcount != 1:
            return False
    logger.warning("The lease %s is taken over from %s: that process is gone.", name, row[0])
    return True


def place() -> str:
    """Where this process's pids mean something: the host's name and its pid namespace.
    Two workers may share a host's name in separate pid namespaces (containers on the host's
    network, replicas given one hostname), each seeing none of the other's processes: by
    the name alone, each took the other's live lease over, and both ran the same sweep."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"


def _gone(holder: str) -> bool:
    """Whether `holder` (`<place>:<pid>:<nonce>`) was a process of this place that is gone."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != place() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return holder not in _holding
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    return False


def _renew(name: str, holder: str, term: timedelta, done: threading.Event) -> None:
    """Renews the lease every third of `term` until `done`. A renewal that fails (the
    connection dropped by a failover, a restart or PgBouncer) is logged and tried again on a
    new connection at the next third: the thread died with the first one, with a traceback
    outside the JSON log, and the lease lapsed while the job still ran, for another worker
    to run it at the same time."""
    database = connections["default"]
    try:
        while not done.wait(term.total_seconds() / 3):
            try:
                later, at_later = _clock(database, term)
                with database.cursor() as cursor:
                    cursor.execute(_RENEW_SQL.format(later=later), [*at_later, name, holder])
            except Exception as error:  # logged; the next third tries again
                warn_database_error(
                    logger, f"The lease {name} could not be renewed; it tries again", error
                )
                database.close()
    finally:
        connections.close_all()


def _clock(database, after: timedelta) -> tuple[str, list]:
    """The database's clock `after` from now, as SQL and its parameters. Every holder takes,
    renews and judges a lease by this one clock: by each machine's own, a holder whose clock
    ran behind wrote a lease that had lapsed already by another's, which took it while the
    first still ran the job (and one ahead by more than SLACK, likewise)."""
    if database.vendor == "sqlite":
        # As Django stores a time on SQLite, in UTC; SQLite's `now` is UTC.
        return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %s)", [
            f"{after.total_seconds():+.6f} seconds"
        ]
    return "(clock_timestamp() + %s)", [after]
