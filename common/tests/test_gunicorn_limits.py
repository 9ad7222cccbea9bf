"""A real gunicorn with config/gunicorn.py: up to its own limits, the application, not gunicorn,
answers what is too long under /api/, and in JSON (gunicorn's answer would be an HTML page)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.middleware import MAX_HEADER_LENGTH, MAX_URL_LENGTH

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn_port():
    port = free_port()
    environment = {
        **os.environ,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_ACCESS_LOG": "",
    }
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "config.serve", "config.wsgi", "--config"),
            *("config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "--no-control-socket"),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not listen within 30 s"
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def send(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """One raw HTTP/1.0 GET (so the answer is not chunked); (status, content type, body)."""
    lines = [f"GET {target} HTTP/1.0", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.decode("latin-1").partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    content_type = next(
        (
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("content-type:")
        ),
        "",
    )
    return status, content_type, body


def test_a_url_longer_than_the_application_allows_is_its_json_414(gunicorn_port):
    status, content_type, body = send(gunicorn_port, "/api/v1/plans?q=" + "x" * MAX_URL_LENGTH)

    assert (status, content_type) == (414, "application/json")
    assert json.loads(body)["code"] == "too_long"


def test_a_header_longer_than_the_application_allows_is_its_json_431(gunicorn_port):
    long_header = {"X-Note": "x" * (MAX_HEADER_LENGTH + 1)}

    status, content_type, body = send(gunicorn_port, "/api/v1/plans", long_header)

    assert (status, content_type) == (431, "application/json")
    assert json.loads(body)["code"] == "headers_too_large"


def test_beyond_gunicorn_s_own_limit_gunicorn_refuses_before_the_application(gunicorn_port):
    """The bound: a request line over 8190 bytes never reaches Django."""
    status, content_type, _ = send(gunicorn_port, "/api/v1/plans?q=" + "x" * 9000)

    assert (status, content_type) == (414, "text/html")
