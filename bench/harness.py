"""The benchmarks' machinery: a fresh database, `make serve`, wrk, and timed commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

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
    "THROTTLE_AUTH": "100000000/minute",
    "LOG_LEVEL": "WARNING",
    "PAYMENT_WEBHOOK_SECRET": "whsec_bench",
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
    """`make serve` (gunicorn, 2 x CPUs + 1 workers) in its own process group, with the floor
    endpoints of bench/urls.py mounted; stopped afterwards."""
    process = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"PORT={PORT}"],
        cwd=ROOT,
        env=environment(DJANGO_SETTINGS_MODULE="bench.settings"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{BASE}/health", timeout=2)  # noqa: S310
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"make serve did not start:\n{process.stderr.read().decode()}")
                time.sleep(0.5)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


LATENCY = re.compile(r"^\s+(50|75|90|99)(?:\.\d+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    path: str,
    *,
    connections: int,
    script: str | None = None,
    env: dict | None = None,
    duration: str = DURATION,
):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}", "--latency"]
    if script:
        command += ["-s", str(BENCH / "wrk" / script)]
    command.append(BASE + path)
    if script:
        env = {**(env or {}), "BENCH_PATH": path}
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True
    )
    output = result.stdout
    requests_per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = {
        f"p{p}_ms": round(float(value) * UNITS_MS[unit], 2)
        for p, value, unit in LATENCY.findall(output)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_second": round(requests_per_second, 1),
        **percentiles,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "connections": connections,
    }


def compared(path: str, floor_path: str, *, script: str, env: dict, connections: int) -> tuple:
    """An endpoint and its floor, warmed up, then measured A-B-B-A and averaged per side, so
    neither profits from running second (warm caches) or suffers from a checkpoint."""
    for warm_up in (path, floor_path):
        wrk(warm_up, connections=connections, script=script, env=env, duration="3s")
    runs: dict[str, list[dict]] = {path: [], floor_path: []}
    for target in (path, floor_path, floor_path, path):
        runs[target].append(wrk(target, connections=connections, script=script, env=env))
    endpoint, floor = _average(runs[path]), _average(runs[floor_path])
    ratio = round(endpoint["requests_per_second"] / floor["requests_per_second"], 2)
    return endpoint, floor, {"ratio": ratio}


def _average(measurements: list[dict]) -> dict:
    averaged = {}
    for key in measurements[0]:
        values = [measurement[key] for measurement in measurements]
        averaged[key] = sum(values) if key == "non_2xx" else round(sum(values) / len(values), 1)
    return averaged


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
