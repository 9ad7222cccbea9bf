"""A database that cannot be reached (down, restarting, out of connections): how to tell,
and how to say so (or that it is busy) in the log once per request rather than with a
traceback each time."""

from __future__ import annotations

import logging
import re

import psycopg
from django.db import OperationalError

from common.db import database_busy

# The server going away or not taking connections once connected: admin_shutdown,
# crash_shutdown, cannot_connect_now (starting up, shutting down), too_many_connections; and
# the connection_exception class (08...). psycopg's failures to connect carry no SQLSTATE.
NOT_TAKING_CONNECTIONS = {"57P01", "57P02", "57P03", "53300"}
# What a server that is up says when it refuses our name, password or database (a wrong
# DATABASE_URL, a password rotated on one side only, no pg_hba.conf line for us), and what
# libpq says when the server wants a password and we sent none. A failed connection carries
# no SQLSTATE (28P01, 28000, 3D000), so the message is read; a server that writes its
# messages in another language is logged as an outage, as before.
REFUSED_CONFIGURATION = re.compile(
    r"password authentication failed|role \".*\" does not exist|database \".*\" does not exist"
    r"|no pg_hba\.conf entry|fe_sendauth: no password supplied"
)
# Seconds a client should wait before retrying: a restart's usual length, a guess.
RETRY_AFTER_SECONDS = 5


def database_unavailable(error: BaseException) -> bool:
    """Whether the database could not be reached: nothing listens (connection refused, as
    while it restarts), the connection broke, or the server would not take it (starting up,
    shutting down, full, or refusing our name or password: psycopg does not tell these
    apart, and for a client each is the same outage; the log line says which). Not busy
    (`common.db.database_busy`): nothing says how long it lasts, and a connection cut at
    COMMIT may have committed. Answered 503 `unavailable` with Retry-After."""
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    sqlstate = cause.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in NOT_TAKING_CONNECTIONS


def database_misconfigured(error: BaseException) -> bool:
    """Whether the database refused us for what our settings say (the name, password or
    database in DATABASE_URL) rather than being down: for a client the same outage (503
    `unavailable`), but one that does not end until an operator changes the configuration,
    so the log says so at ERROR instead of passing it for a restart."""
    return database_unavailable(error) and REFUSED_CONFIGURATION.search(str(error)) is not None


def first_line(error: BaseException) -> str:
    """An error's message without the hints libpq adds on the lines after it."""
    return str(error).split("\n", 1)[0]


def warn_database_error(logger: logging.Logger, message: str, error: BaseException) -> None:
    """A database error answered for anyway (a probe, a metric left out, a 503): one line
    when the database could not be reached, or was too busy to answer in time (a lock or
    statement timeout), as every request, probe and scrape meets it for as long as that
    lasts (and /health reports it); at ERROR when it refused our configuration, which will
    not pass by itself; with the traceback otherwise."""
    if database_busy(error):
        logger.warning("%s: the database is busy: %s", message, first_line(error))
    elif database_misconfigured(error):
        logger.error(
            "%s: the database refused our configuration (DATABASE_URL's name, password or"
            " database), not an outage: %s",
            message,
            first_line(error),
        )
    elif database_unavailable(error):
        logger.warning("%s: %s", message, first_line(error))
    else:
        logger.warning("%s.", message, exc_info=error)
