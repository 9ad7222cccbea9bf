"""Webhook delivery under load: 10,000 events to 3 endpoints on loopback, one worker.

    .venv/bin/python bench/events_load.py [events]

Makes its own database, emits the events (30,000 deliveries), starts `manage.py worker` and
reports how long until every delivery succeeded, the rate, and the worker's peak memory
(VmHWM, from /proc). Run by hand or by `make bench-events`; nothing here is a test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "tokenbilling_bench_events"
DATABASE_URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
ENVIRONMENT = {
    **os.environ,
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
    "LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}


class Quick(BaseHTTPRequestHandler):
    """A receiver that keeps connections open, as real ones do (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        with Quick.lock:
            Quick.received += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        """Quiet."""


def main(events: int) -> dict:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=ENVIRONMENT, check=True)
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Quick) for _ in range(3)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = [f"http://127.0.0.1:{s.server_address[1]}/hooks" for s in servers]
    emit = (
        "import django, json, sys; django.setup()\n"
        "from django.db import transaction\n"
        "from events import services\n"
        f"for url in {urls!r}: services.endpoint_create(url=url, event_types=['ping'])\n"
        f"for start in range(0, {events}, 500):\n"
        f"    numbers = range(start, min(start + 500, {events}))\n"
        "    with transaction.atomic():\n"
        "        services.events_emit([services.Notice('ping', {'n': n}) for n in numbers])\n"
    )
    subprocess.run([python, "-c", emit], cwd=ROOT, env=ENVIRONMENT, check=True)
    started = time.monotonic()
    worker = subprocess.Popen(
        [python, "manage.py", "worker", "--interval", "0.1"],
        cwd=ROOT,
        env=ENVIRONMENT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    expected, peak_kb = events * len(urls), 0
    try:
        with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
            while True:
                peak_kb = max(peak_kb, _peak_rss_kb(worker.pid))
                (done,) = connection.execute(
                    "SELECT count(*) FROM events_delivery WHERE status = 'succeeded'"
                ).fetchone()
                if done >= expected or time.monotonic() - started > 600:
                    break
                time.sleep(0.2)
    finally:
        peak_kb = max(peak_kb, _peak_rss_kb(worker.pid))
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    seconds = round(time.monotonic() - started, 1)
    return {
        "events": events,
        "deliveries": expected,
        "delivered": done,
        "received": Quick.received,
        "seconds": seconds,
        "deliveries_per_second": round(done / seconds, 1),
        "worker_peak_rss_mb": round(peak_kb / 1024, 1),
    }


def _peak_rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), "0 0")
    return int(line.split()[1])


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=2))
