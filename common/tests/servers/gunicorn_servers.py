"""gunicorn running this project, directly on the test database or through PgBouncer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from common.tests.servers.postgres import database_url, pgbouncer, the_test_database
from common.tests.servers.processes import PROJECT, _stop, _wait_until, free_port


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
