"""`make bench`: load benchmarks against `make serve` (gunicorn) on PostgreSQL, measured by wrk.

Each scenario prepares its data in a fresh benchmark database, runs wrk against the running
server and reports requests/s and latency percentiles. Results are printed as a table and
written to bench/results/<timestamp>.json. Run by hand; nothing here is a test.

    make bench                       # every scenario
    make bench BENCH_ARGS="listing"  # some of them
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = ROOT / ".venv" / "bin" / "python"
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
DATABASE_NAME = "tokenbilling_bench"
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
    "GUNICORN_ACCESS_LOG": "",
    "LOG_LEVEL": "WARNING",
    "PAYMENT_WEBHOOK_SECRET": "whsec_bench",
}


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, **SERVER_ENVIRONMENT, **extra}


def manage(*args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env=environment(),
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


def listing(results: dict) -> None:
    """The public listing: the demo catalog (6 bundles) and 200 active bundles."""
    for bundles in (6, 200):
        fresh_database()
        prepare("catalog", bundles=bundles)
        with server():
            results[f"listing_{bundles}_bundles"] = wrk("/api/v1/token-bundles", connections=32)


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


def ledger(results: dict) -> None:
    """Consume at 32 connections, over 1000 users and on one hot user, beside the floor."""
    fresh_database()
    token_files = {}
    for label, users in (("1000_users", 1000), ("hot_user", 1)):
        token_files[label] = BENCH / "results" / f"tokens-{label}.txt"
        token_files[label].parent.mkdir(exist_ok=True)
        prepare("ledger_users", users=users, tokens_file=str(token_files[label]))
    prepare("vacuum_analyze")
    with server():
        for label, tokens in token_files.items():
            consume, floor, ratio = compared(
                "/api/v1/user/tokens/consume",
                "/bench/floor-debit",
                script="consume.lua",
                env={"BENCH_TOKENS": str(tokens)},
                connections=32,
            )
            results[f"consume_{label}"] = consume
            results[f"floor_{label}"] = floor
            results[f"consume_vs_floor_{label}"] = ratio
    results["ledger_check_after_load"] = prepare("ledger_invariant")


def checkout(results: dict) -> None:
    """Checkout of 3 bundles at 16 connections (100 users), beside the ledger's floor."""
    fresh_database()
    body = prepare("checkout_catalog")["body"]
    tokens = BENCH / "results" / "tokens-checkout.txt"
    tokens.parent.mkdir(exist_ok=True)
    prepare("ledger_users", users=100, tokens_file=str(tokens))
    prepare("vacuum_analyze")
    env = {"BENCH_TOKENS": str(tokens), "BENCH_BODY": body}
    with server():
        endpoint, floor, ratio = compared(
            "/api/v1/user/checkout",
            "/bench/floor-debit",
            script="checkout.lua",
            env=env,
            connections=16,
        )
    results["checkout_3_items"] = endpoint
    results["floor_16_connections"] = floor
    results["checkout_vs_floor"] = ratio


def capture_webhook(results: dict) -> None:
    """Signed capture deliveries at 16 connections, each paying a new invoice."""
    fresh_database()
    deliveries = BENCH / "results" / "signed-captures.txt"
    deliveries.parent.mkdir(exist_ok=True)
    prepare(
        "signed_captures",
        invoices=8000,
        requests_file=str(deliveries),
        secret=SERVER_ENVIRONMENT["PAYMENT_WEBHOOK_SECRET"],
    )
    prepare("vacuum_analyze")
    with server():
        results["capture_webhook"] = wrk(
            "/api/v1/webhooks/payment",
            connections=16,
            script="webhook.lua",
            env={"BENCH_REQUESTS": str(deliveries), "BENCH_THREADS": "2"},
        )
    results["capture_webhook_outcomes"] = prepare("webhook_outcomes")


def reconcile(results: dict) -> None:
    """reconcile_purchases over 10,000 pending invoices with stale Stripe sessions and
    100,000 ledger accounts: wall time and peak memory, first run and second run."""
    sys.path.insert(0, str(ROOT))
    from billing.tests.fake_stripe import FakeStripe

    fresh_database()
    prepare("ledger_users", users=100_000)
    sessions_file = BENCH / "results" / "stale-sessions.json"
    sessions_file.parent.mkdir(exist_ok=True)
    prepare("stale_invoices", invoices=10_000, sessions_file=str(sessions_file))
    prepare("vacuum_analyze")
    fake = FakeStripe(webhook_secret="whsec_bench").start()
    fake.sessions.update(json.loads(sessions_file.read_text()))
    try:
        for run in ("first_run", "second_run"):
            results[f"reconcile_{run}"] = _timed_command(
                ["reconcile_purchases", "--json"],
                STRIPE_API_BASE=fake.base,
                STRIPE_SECRET_KEY="sk_bench",
            )
    finally:
        fake.stop()


def _timed_command(args: list[str], **extra: str) -> dict:
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
        **{key: value for key, value in summary.items() if not isinstance(value, list)},
        "stripe_errors": len(summary.get("stripe_errors", [])),
        "ledger_failures": len(summary.get("ledger_failures", [])),
    }


def history(results: dict) -> None:
    """1,000,000 entries for one user: page and cursor latency, CSV export memory."""
    fresh_database()
    loaded = prepare("long_history", entries=1_000_000)
    results["history_1m_latency"] = measure("history_latency", email=loaded["user"])
    results["history_1m_csv"] = measure("csv_export_memory", email=loaded["user"])


SCENARIOS = {
    "listing": listing,
    "ledger": ledger,
    "checkout": checkout,
    "capture_webhook": capture_webhook,
    "reconcile": reconcile,
    "history": history,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"some of: {', '.join(SCENARIOS)}")
    chosen = parser.parse_args().scenarios or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    results: dict[str, dict] = {}
    for name in chosen:
        print(f"--- {name}", flush=True)
        SCENARIOS[name](results)

    print(f"\n{'scenario':<44}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, figures in results.items():
        if "requests_per_second" in figures:
            print(
                f"{name:<44}{figures['requests_per_second']:>10}{figures.get('p50_ms', '-'):>9}"
                f"{figures.get('p99_ms', '-'):>9}{figures['non_2xx']:>9}"
            )
        else:
            print(f"{name:<44}{json.dumps(figures)}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = BENCH / "results" / f"{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
