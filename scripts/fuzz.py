"""`make fuzz`: Schemathesis against the live server's own OpenAPI schema, with every check.

Starts the production server (gunicorn with config/gunicorn.py, DEBUG=0) on a free loopback
port over a PostgreSQL database of its own (the name of DATABASE_URL's database + `_fuzz`,
made afresh each run), with the demo catalog and a staff user to sign in as, then runs
`schemathesis run` on /api/schema/ with all checks in the examples, coverage, fuzzing and
stateful phases, signed in as that staff user through the API's own login (schemathesis.toml
says how, and which answers are allowed where). Exits with Schemathesis' code: 0 when nothing
failed. The run's output is also kept in test-artifacts/fuzz.log.

Knobs (environment): FUZZ_SECONDS, the time budget of the whole run (default 300; fuzzing and
stateful testing repeat until it is spent); FUZZ_MAX_EXAMPLES, test cases per operation and
phase (default 100); FUZZ_SEED, to repeat a run; FUZZ_WORKERS (default 1).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LOG = ROOT / "test-artifacts" / "fuzz.log"
SERVER_LOG = ROOT / "test-artifacts" / "fuzz-server.log"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tokenbilling"
STAFF_EMAIL = "fuzz-staff@example.com"


def fuzz_database_url() -> tuple[str, str, str]:
    """(the fuzz database's URL, its name, the maintenance database's URL)."""
    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_URL)
    name = (parts.path.lstrip("/") or "tokenbilling") + "_fuzz"
    return (
        urlunsplit(parts._replace(path=f"/{name}")),
        name,
        urlunsplit(parts._replace(path="/postgres")),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": "http://127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        # Both providers the schema lists are then accepted (off, `test` is a documented 400).
        "PAYMENTS_TEST_MODE": "1",
        # The fuzzer sends thousands of requests a minute; 429s would hide what it looks for.
        "THROTTLE_ANON": "1000000/minute",
        "THROTTLE_USER": "1000000/minute",
        "THROTTLE_SERVICE": "1000000/minute",
        "THROTTLE_AUTH": "1000000/minute",
        "THROTTLE_REFRESH": "1000000/minute",
        "THROTTLE_INVALID_REFRESH": "1000000/minute",
        "THROTTLE_RECEIPTS": "1000000/minute",
        "GUNICORN_ACCESS_LOG": "",
        "LOG_LEVEL": "ERROR",
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "3"),
        "DJANGO_SUPERUSER_EMAIL": STAFF_EMAIL,
    }


def manage(environment: dict[str, str], *args: str) -> None:
    subprocess.run([BIN / "python", "manage.py", *args], cwd=ROOT, env=environment, check=True)


def prepare(environment: dict[str, str], name: str, maintenance_url: str, password: str) -> None:
    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    manage(environment, "migrate", "--noinput", "--verbosity", "0")
    manage(environment, "collectstatic", "--noinput", "--verbosity", "0")
    manage(environment, "seed_demo")
    manage({**environment, "DJANGO_SUPERUSER_PASSWORD": password}, "createsuperuser", "--noinput")


def start_server(environment: dict[str, str], base: str, port: int) -> subprocess.Popen:
    """gunicorn in its own process group, its log in test-artifacts/fuzz-server.log."""
    SERVER_LOG.parent.mkdir(exist_ok=True)
    server = subprocess.Popen(
        [
            BIN / "gunicorn",
            "config.wsgi",
            "--config",
            "config/gunicorn.py",
            "--bind",
            f"127.0.0.1:{port}",
            # Its default path is shared by every gunicorn on the machine.
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=environment,
        stdout=SERVER_LOG.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)  # noqa: S310 (loopback)
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop(server)
                sys.exit("gunicorn did not answer /health within 60 s")
            time.sleep(0.5)


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def fund_staff(base: str, password: str) -> None:
    """Tokens for the staff user, through the API, so that consuming can succeed too."""

    def post(path: str, body: dict, token: str | None = None) -> dict:
        request = urllib.request.Request(  # noqa: S310 (loopback)
            base + path, data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.load(response)

    login = post("/api/v1/auth/login", {"email": STAFF_EMAIL, "password": password})
    adjust = f"/api/v1/admin/users/{login['user']['id']}/tokens/adjust"
    post(adjust, {"amount": 1_000_000_000, "reason": "make fuzz"}, login["access"])


def schemathesis(base: str, password: str) -> int:
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"{base}/api/schema/",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-time",
        os.environ.get("FUZZ_SECONDS", "300"),
        "--max-examples",
        os.environ.get("FUZZ_MAX_EXAMPLES", "100"),
        "--workers",
        os.environ.get("FUZZ_WORKERS", "1"),
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "too_slow",
    ]
    if os.environ.get("FUZZ_SEED"):
        command += ["--seed", os.environ["FUZZ_SEED"]]
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("w") as log:
        run = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "FUZZ_STAFF_EMAIL": STAFF_EMAIL, "FUZZ_STAFF_PASSWORD": password},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in run.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
        return run.wait()


def main() -> int:
    database_url, name, maintenance_url = fuzz_database_url()
    environment = server_environment(database_url)
    password = secrets.token_urlsafe(16)
    prepare(environment, name, maintenance_url, password)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(environment, base, port)
    try:
        fund_staff(base, password)
        return schemathesis(base, password)
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
