"""The test database, and PgBouncer in transaction pooling in front of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from common.tests.servers.processes import _stop, _wait_until, binary, free_port


def the_test_database() -> dict:
    """Where the test database is: host, port, user and name."""
    database = connection.settings_dict
    return {
        "host": database["HOST"] or "127.0.0.1",
        "port": int(database["PORT"] or 5432),
        "user": database["USER"] or "postgres",
        "dbname": database["NAME"],
    }


def database_url(*, host: str, port: int, user: str, dbname: str) -> str:
    return f"postgres://{user}@{host}:{port}/{dbname}"


@contextmanager
def pgbouncer() -> Iterator[dict]:
    """PgBouncer in transaction pooling in front of the local PostgreSQL (any database name,
    trust); yields the test database's connection parameters through it."""
    target = the_test_database()
    folder = Path(tempfile.mkdtemp(prefix="test-pgbouncer-"))
    port = free_port()
    log = folder / "pgbouncer.log"
    (folder / "users.txt").write_text(f'"{target["user"]}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={target["host"]} port={target["port"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
max_client_conn = 200
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
logfile = {log}
pidfile = {folder / "pgbouncer.pid"}
"""
    )
    log.touch()
    command = [binary("pgbouncer"), "--quiet", str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root.
        shutil.chown(folder, "postgres")
        for path in folder.iterdir():
            shutil.chown(path, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command)
    through = {**target, "port": port}

    def answers() -> bool:
        try:
            with psycopg.connect(**through, connect_timeout=2) as probe:
                probe.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    _wait_until(answers, what="pgbouncer", process=process, log=log)
    try:
        yield through
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def workers_waiting_on_a_lock(database: dict, *, count: int = 1) -> list[int]:
    """The pids of the gunicorn workers whose database sessions wait on a lock, once `count`
    of them do (their application_name carries the worker's pid; see config/databases.py)."""
    deadline = time.monotonic() + 15
    with psycopg.connect(**the_test_database(), autocommit=True) as watcher:
        while True:
            rows = watcher.execute(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE datname = %s AND wait_event_type = 'Lock' "
                "AND application_name LIKE 'tokenbilling:%%'",
                [database["dbname"]],
            ).fetchall()
            if len(rows) >= count:
                return [int(name.split(":", 1)[1]) for (name,) in rows]
            if time.monotonic() > deadline:
                pytest.fail(f"{count} request(s) never waited on the lock (saw {len(rows)}).")
            time.sleep(0.02)
