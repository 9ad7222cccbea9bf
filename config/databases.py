"""The database's settings: PostgreSQL through psycopg 3 when DATABASE_URL is set, otherwise
the embedded SQLite file; each with its timeouts (README.md: "Timeouts")."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int

# What DATABASE_URL may name: the service runs on PostgreSQL (common.postgresql) or SQLite.
ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")


def default_database(
    *, url: str, lock_timeout: float, statement_timeout: float, base_dir: Path
) -> dict:
    """Django's `DATABASES["default"]`. PostgreSQL connections are persistent with a health
    check before reuse (docs/decisions.md explains why this and not a pool)."""
    # Read and checked on SQLite too, where neither applies: a bad value is refused at start
    # naming it, not kept until the day DATABASE_URL is set, when the service would not start
    # for a variable nobody touched that day.
    conn_max_age = env_int("CONN_MAX_AGE", 60)
    transaction_pooling = env_bool("DB_TRANSACTION_POOLING", False)
    if url:
        database = _parsed(url, conn_max_age)
    else:
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH") or base_dir / "db.sqlite3",
        }
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock at BEGIN, so a transaction that reads then writes cannot
        # be overtaken: SQLite's twin of PostgreSQL's row locks.
        # Tests get a file of their own beside it (not SQLite's default, memory), so they take
        # the same file locks as `make run`.
        database["TEST"] = {"NAME": f"{database['NAME']}-test"}
        # Its busy timeout is the lock timeout (SQLite has no statement timeout).
        database["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": lock_timeout or 86_400,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        # common.postgresql: Django's backend with both timeouts on every statement, also behind
        # PgBouncer in transaction pooling, where they are set per transaction.
        database["ENGINE"] = "common.postgresql"
        database["TIMEOUTS"] = {
            "lock_timeout": round(lock_timeout * 1000),
            "statement_timeout": round(statement_timeout * 1000),
        }
        options = database.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", 5)
        # pg_stat_activity then names the process behind each connection (gunicorn loads the
        # settings in each worker, after the fork).
        options.setdefault("application_name", f"tokenbilling:{os.getpid()}")
        # Parameters bound by the server, and a statement prepared on a connection once it has run
        # five times there (psycopg's default threshold): PostgreSQL then parses and plans the
        # hot statements once per connection, not once per request. Django's default binds them
        # into the SQL text in Python, and the server parsed and planned every request's
        # statements anew (docs/decisions.md, Speed: the balance 1,462 → 1,801 rps).
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 5)
        database["TRANSACTION_POOLING"] = transaction_pooling
        if database["TRANSACTION_POOLING"]:
            # Behind PgBouncer in transaction pooling, consecutive transactions may run on
            # different server connections: nothing may live in a session. Server-side cursors
            # outlive a transaction when autocommit is on; prepared statements live in a session
            # too, so common.postgresql makes none there (each statement still binds its
            # parameters on the server, in one unnamed statement, which transaction pooling
            # carries).
            database["DISABLE_SERVER_SIDE_CURSORS"] = True
    return database


def _parsed(url: str, conn_max_age: int) -> dict:
    """DATABASE_URL as Django's settings, refused at start naming the variable (never its
    password): a URL without a scheme or with a bad port stopped the start with
    dj_database_url's traceback, and one of another database (`mysql://`) was quietly taken
    as PostgreSQL's address."""
    try:
        database = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    except ValueError as error:
        raise ImproperlyConfigured(
            "DATABASE_URL must be postgres://user:password@host:port/name or "
            f"sqlite:////path/to/file ({type(error).__name__})."
        ) from None
    if database.get("ENGINE") not in ENGINES:
        scheme = url.split(":", 1)[0]
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// or sqlite:// URL, not {scheme}://: "
            "the service runs on PostgreSQL or SQLite only."
        )
    return database
