"""Real servers for tests: gunicorn running this project, redis-server and PgBouncer.

Each listens on a free loopback port with its own files in a temporary directory and is
stopped at the end. `make test` installs redis-server and pgbouncer (Debian) when missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

PROJECT = Path(settings.BASE_DIR)
STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def binary(name: str) -> str:
    """The path of a Debian binary the tests need; fails saying how to get it."""
    for folder in ("/usr/bin", "/usr/sbin"):
        path = Path(folder, name)
        if path.exists():
            return str(path)
    pytest.fail(f"{name} is missing: `make test` installs it (apt-get install -y {name}).")


def _wait_until(ready, *, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{what} did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


@dataclass
class Redis:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        _stop(self.process)


@contextmanager
def redis_server() -> Iterator[Redis]:
    folder = Path(tempfile.mkdtemp(prefix="test-redis-"))
    port = free_port()
    log = folder / "redis.log"
    process = subprocess.Popen(
        [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--logfile", str(log)],
    )  # fmt: skip
    server = Redis(port, process)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as client:
                client.sendall(b"PING\r\n")
                return client.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    log.touch()
    _wait_until(answers, what="redis-server", process=process, log=log)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


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


@dataclass
class Gunicorn:
    """`gunicorn config.wsgi --config config/gunicorn.py` of this project, on a free port."""

    port: int
    process: subprocess.Popen
    log: Path
    folder: Path
    environment: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        headers: dict | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict, dict]:
        """One request; returns the status, the headers and the JSON body (or the text)."""
        request = urllib.request.Request(f"{self.base}{path}", method=method)
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        data = json.dumps(body).encode() if body is not None else None
        try:
            with urllib.request.urlopen(request, data=data, timeout=timeout) as response:
                return response.status, dict(response.headers), _decoded(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _decoded(error.read())

    def call_raw(self, method: str, path: str, body: bytes, *, headers: dict) -> int:
        """A request with a body sent as it is (a signed webhook); returns the status."""
        request = urllib.request.Request(f"{self.base}{path}", data=body, method=method)
        request.add_header("Content-Type", "application/json")
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        _stop(self.process)


def _decoded(raw: bytes) -> dict | str:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


@contextmanager
def gunicorn(*, database: dict, workers: int = 2, **environment: str) -> Iterator[Gunicorn]:
    """Production settings (DEBUG=0) on `database`, with `environment` on top."""
    folder = Path(tempfile.mkdtemp(prefix="test-gunicorn-"))
    port = free_port()
    log = folder / "gunicorn.log"
    env = {
        **os.environ,
        "DEBUG": "0",
        "DATABASE_URL": database_url(**database),
        "WEB_CONCURRENCY": str(workers),
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "INFO",
        **environment,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "config.serve", "config.wsgi", "--config", "config/gunicorn.py",
             "--bind", f"127.0.0.1:{port}"],
            cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Gunicorn(port, process, log, folder, environment)

    def answers() -> bool:
        try:
            return server.call("GET", "/health", timeout=2)[0] in (200, 503) and (
                len(server.worker_pids()) == workers
            )
        except OSError:
            return False

    _wait_until(answers, what="gunicorn", process=process, log=log)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def workers_waiting_on_a_lock(database: dict, *, count: int = 1) -> list[int]:
    """The pids of the gunicorn workers whose database sessions wait on a lock, once `count`
    of them do (their application_name carries the worker's pid; see config/settings.py)."""
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


@contextmanager
def gunicorn_routed(route: str, **environment: str) -> Iterator[Gunicorn]:
    """gunicorn on the test database, directly ("postgresql") or through a PgBouncer in
    transaction pooling ("pgbouncer")."""
    if route == "pgbouncer":
        with (
            pgbouncer() as through,
            gunicorn(database=through, DB_TRANSACTION_POOLING="1", **environment) as server,
        ):
            yield server
    else:
        with gunicorn(database=the_test_database(), **environment) as server:
            yield server
