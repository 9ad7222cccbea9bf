"""The benchmarks' machinery: a fresh database, `make serve`, wrk, and timed commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = ROOT / ".venv" / "bin" / "python"
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
# Dropped and created again by every scenario: on a shared machine, give each run its own.
DATABASE_NAME = os.environ.get("BENCH_DATABASE", "tokenbilling_bench")
DATABASE_URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE_NAME}"
PORT = int(os.environ.get("BENCH_PORT", "8089"))
BASE = f"http://127.0.0.1:{PORT}"
FLOOR_PORT = int(os.environ.get("BENCH_FLOOR_PORT", str(PORT + 1)))
FLOOR = f"http://127.0.0.1:{FLOOR_PORT}"
# Issue 14's setting: 4 gunicorn workers for the project and for the floor alike.
WORKERS = os.environ.get("BENCH_WORKERS", "4")
DURATION = os.environ.get("BENCH_DURATION", "10s")

SERVER_ENVIRONMENT = {
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "THROTTLE_ANON": "100000000/minute",
    "THROTTLE_USER": "100000000/minute",
    "THROTTLE_SERVICE": "100000000/minute",
    "THROTTLE_AUTH": "100000000/minute",
    "LOG_LEVEL": "WARNING",
    "PAYMENT_WEBHOOK_SECRET": "whsec_bench",
    "WEB_CONCURRENCY": WORKERS,
}


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, **SERVER_ENVIRONMENT, **extra}


def manage(*args: str) -> str:
    """A command that prepares or measures: bulk loads may run longer than a request's
    statement timeout, so it is off here (the server and timed commands keep it)."""
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env=environment(DB_STATEMENT_TIMEOUT="0"),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE_NAME}")
    manage("migrate", "--noinput", "--verbosity", "0")


def prepare(function: str, **options: object) -> dict:
    """Runs a function of bench/prepare.py in the benchmark database; returns its result."""
    return _call("prepare", function, options)


def measure(function: str, **options: object) -> dict:
    """Runs a function of bench/measure.py (in-process timings) in the benchmark database."""
    return _call("measure", function, options)


def _call(module: str, function: str, options: dict) -> dict:
    command = (
        f"import json, bench.{module} as m; "
        f"print(json.dumps(m.{function}(**{options!r}), default=str))"
    )
    output = manage("shell", "--command", command)
    return json.loads(output.strip().splitlines()[-1])


@contextmanager
def server():
    """`make serve` (gunicorn) in its own process group; stopped afterwards."""
    with running(["make", "--no-print-directory", "serve", f"PORT={PORT}"], BASE):
        yield


@contextmanager
def floor():
    """The floor (bench/floorapp): the same gunicorn settings, on its own port."""
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "bench.floorapp.wsgi",
        "--config",
        "config/gunicorn.py",
        "--bind",
        f"127.0.0.1:{FLOOR_PORT}",
    ]
    with running(command, FLOOR, DJANGO_SETTINGS_MODULE="bench.floorapp.settings"):
        yield


# The process group of each running server, by its base URL: its gunicorn master and workers
# (make serve's too) share the group of the process started here.
SERVER_GROUPS: dict[str, int] = {}


@contextmanager
def running(command: list[str], base: str, cwd: Path = ROOT, **extra: str):
    """The server's output goes to a file, not a pipe: a pipe nobody reads fills up after
    64 KiB of warnings and then blocks the workers that write to it."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment(**extra),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            _wait_until_up(process, f"{base}{'/hello' if base == FLOOR else '/health'}", log)
            SERVER_GROUPS[base] = process.pid
            yield
        finally:
            SERVER_GROUPS.pop(base, None)
            _stop(process)


# `make serve` runs migrate and collectstatic first: on a loaded machine those alone took 68 s.
STARTUP_SECONDS = 240


def _wait_until_up(process: subprocess.Popen, probe: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            urllib.request.urlopen(probe, timeout=2)  # noqa: S310
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                sys.exit(f"{process.args[0]} did not start:\n{log.read().decode()}")
            time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL for whatever outlives gunicorn's graceful timeout (30 s)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=45)
    except subprocess.TimeoutExpired:
        print(f"WARNING: {process.args[0]} outlived SIGTERM by 45 s; killed", flush=True)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def timed_command(args: list[str], **extra: str) -> dict:
    """Runs a manage.py command in its own process; its wall time, peak RSS, JSON summary."""
    start = time.monotonic()
    result = subprocess.run(
        [str(PYTHON), "bench/peak_rss.py", *args],
        cwd=ROOT,
        env=environment(**extra),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = round(time.monotonic() - start, 1)
    peak_kb = int(re.search(r"PEAK_RSS_KB=(\d+)", result.stderr).group(1))
    summary = json.loads(result.stdout) if result.stdout.strip() else {}
    return {
        "seconds": seconds,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "exit_code": result.returncode,
        **{key: len(value) if isinstance(value, list) else value for key, value in summary.items()},
    }
