"""Instructions a worker runs for one request, counted by callgrind (docs/decisions.md, Speed).

Wall-clock rates on a shared machine move by a fifth from run to run; the instructions a
request costs do not. Under valgrind this calls the WSGI handler in process, as a gunicorn
worker does (no network): `--warm` requests, then as many more as asked. Two such runs side
by side, of FIRST and SECOND requests; the difference of their totals over SECOND - FIRST is
one request's instructions, start-up and warm-up left out:

    .venv/bin/python bench/instructions.py listing 30 130

Paths: `listing` (the public token bundles, anonymous), `balance` (JWT, 50 users),
`consume` (JWT, `{"amount": 1}`, a new Idempotency-Key each, 50 users), `usage` (the same
body and keys through a service key, each line of BENCH_TOKENS "<key> <user id>", as
`ledger_users` writes its `key_file`), `checkout` (JWT,
the body BENCH_BODY holds, a new Idempotency-Key each, 50 users), `hello` and `debit` (the
floor, bench/floorapp). The database is DATABASE_URL's, prepared with bench/prepare/ledger.py:
`catalog`, `floor_tables`, and `ledger_users` writing its tokens to the file BENCH_TOKENS
names, run with SECRET_KEY set to SERVER's below (the tokens are signed with it); for
`checkout` as bench/run.py's `checkout` prepares it: `checkout_catalog` (its `body` is
BENCH_BODY), `ledger_users` and `checkout_history` (20 a user). The settings are the
benchmark's server's; PYTHONHASHSEED is fixed, so the same build gives the same count to
within 1 %.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from harness import SERVER_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
FLOOR_PATHS = {"hello", "debit"}
# Run one after the other, not side by side: checkouts queue on the year's invoice number,
# and under valgrind one run's lock outlasted the other's lock timeout (a 503).
TAKING_TURNS = {"checkout"}


def _environ(method: str, path: str, body: bytes = b"", **headers: str) -> dict:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8089",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT": "*/*",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return environ


def _requests(name: str):
    """An endless source of one path's requests, as wrk's scripts send them."""
    if name == "listing":
        while True:
            yield _environ("GET", "/api/v1/token-bundles")
    if name == "hello":
        while True:
            yield _environ("GET", "/hello")
    if name == "debit":
        while True:
            yield _environ("POST", "/debit")
    tokens = Path(os.environ.get("BENCH_TOKENS", os.devnull)).read_text().splitlines()
    if name == "balance":
        index = 0
        while True:
            index += 1
            yield _environ(
                "GET",
                "/api/v1/user/tokens/balance",
                AUTHORIZATION=f"Bearer {tokens[index % len(tokens)]}",
            )
    if name == "consume":
        index = 0
        while True:
            index += 1
            yield _environ(
                "POST",
                "/api/v1/user/tokens/consume",
                b'{"amount": 1}',
                AUTHORIZATION=f"Bearer {tokens[index % len(tokens)]}",
                IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
    if name == "usage":
        # Lines of "<service key> <user id>", as ledger_users' key_file writes them.
        callers = [line.split() for line in tokens]
        index = 0
        while True:
            index += 1
            secret, user_id = callers[index % len(callers)]
            yield _environ(
                "POST",
                f"/api/v1/users/{user_id}/usage",
                b'{"amount": 1}',
                AUTHORIZATION=f"Bearer {secret}",
                IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
    if name == "checkout":
        body = os.environ["BENCH_BODY"].encode()
        index = 0
        while True:
            index += 1
            yield _environ(
                "POST",
                "/api/v1/user/checkout",
                body,
                AUTHORIZATION=f"Bearer {tokens[index % len(tokens)]}",
                IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
    raise SystemExit(f"unknown path {name}")


def run(name: str, warm: int, count: int) -> None:
    if name in FLOOR_PATHS:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floorapp.settings"
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    requests = _requests(name)
    statuses = {200, 201}

    def one() -> None:
        status = []
        body = b"".join(application(next(requests), lambda s, h, e=None: status.append(s)))
        if int(status[0][:3]) not in statuses:
            raise SystemExit(f"{status[0]}: {body[:300]!r}")

    for _ in range(warm):
        one()
    import gc

    gc.collect()
    gc.freeze()
    for _ in range(count):
        one()


# The bench server's settings (bench/harness.py), its database and workers left to the caller.
SERVER = {
    **{
        name: value
        for name, value in SERVER_ENVIRONMENT.items()
        if name not in ("DATABASE_URL", "WEB_CONCURRENCY")
    },
    "PYTHONHASHSEED": "0",
    "PYTHONPATH": str(ROOT),
    "DJANGO_SETTINGS_MODULE": "config.settings",
}


def _instructions(name: str, warm: int, counts: tuple[int, int]) -> list[int]:
    """Both counts' totals, the two valgrind runs side by side."""
    with tempfile.TemporaryDirectory() as folder:
        totals = []
        if name in TAKING_TURNS:
            runs = (_valgrind(name, warm, count, Path(folder) / str(count)) for count in counts)
        else:
            runs = [_valgrind(name, warm, count, Path(folder) / str(count)) for count in counts]
        for process, out in runs:
            if process.wait() != 0:
                raise SystemExit((out.parent / "stderr").read_text()[-2000:])
            summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
            totals.append(int(summary.group(1)))
        return totals


def _valgrind(name: str, warm: int, count: int, folder: Path) -> tuple[subprocess.Popen, Path]:
    out = folder / "callgrind.out"
    metrics = folder / "metrics"
    metrics.mkdir(parents=True)
    process = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--run",
            name,
            str(warm),
            str(count),
        ],
        env={**os.environ, **SERVER, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "stderr").open("w"),
    )
    return process, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run", action="store_true", help="inside valgrind: FIRST warm-up requests, then SECOND"
    )
    parser.add_argument("path")
    parser.add_argument("first", type=int, metavar="FIRST")
    parser.add_argument("second", type=int, metavar="SECOND")
    parser.add_argument("--warm", type=int, default=100)
    arguments = parser.parse_args()
    if arguments.run:
        run(arguments.path, arguments.first, arguments.second)
        return
    low, high = _instructions(arguments.path, arguments.warm, (arguments.first, arguments.second))
    each = (high - low) / (arguments.second - arguments.first)
    print(f"{arguments.path}: {each:,.0f} instructions a request")


if __name__ == "__main__":
    main()
