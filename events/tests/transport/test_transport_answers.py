"""The webhook session: it connects only to addresses checked in the resolution it connects
by (DNS rebinding), and an answer must end by the deadline however slowly it is sent."""

import contextlib
import re
import socket
import struct
import time
from types import SimpleNamespace

import pytest

from events.dispatch import BACKOFF, delivery_record, delivery_send
from events.tests.transport.helpers import HOST, NOW, PUBLIC, Listener, pending_delivery
from events.transport import webhook_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "answer",
    [
        # A status line and headers a byte at a time.
        [b"HTTP/1.1 204 No Content\r\nX-Slow: "] + [b"z"] * 15 + [b"\r\nContent-Length: 0\r\n\r\n"],
        # Headers at once, then the body a byte at a time.
        [b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n"] + [b"z"] * 15,
    ],
    ids=["headers", "body"],
)
def test_an_answer_trickled_past_the_deadline_is_a_timeout(loopback, monkeypatch, answer):
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 1)
    trickling = Listener(answer, gap=0.2)
    delivery = pending_delivery(f"http://127.0.0.1:{trickling.port}/hooks")

    try:
        outcome = delivery_send(delivery, now=NOW, session=webhook_session())
    finally:
        trickling.stop()

    # Each byte came well within the 1 s; the whole answer would have taken over 3 s.
    assert (outcome.status_code, outcome.error) == (None, "ReadTimeout after 1 s")
    assert 1000 <= outcome.duration_ms < 2500


def test_a_long_answer_body_is_read_up_to_the_limit_only(loopback, monkeypatch):
    monkeypatch.setattr("events.dispatch.sending.ANSWER_BODY_BYTES", 10)
    endless = Listener(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"] + [b"z" * 65536] * 50
    )
    delivery = pending_delivery(f"http://127.0.0.1:{endless.port}/hooks")
    started = time.monotonic()

    try:
        outcome = delivery_send(delivery, now=NOW, session=webhook_session())
    finally:
        endless.stop()

    assert (outcome.status_code, outcome.error) == (200, "")
    assert time.monotonic() - started < 5


def test_addresses_that_never_accept_share_the_attempts_time(settings, monkeypatch):
    """A name with two addresses, neither of which accepts: each connect was given what was
    left of the attempt, so the attempt lasted twice its time (as many times as there are
    addresses). The connects are timed by a clock each one moves on by the time it waited."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: [PUBLIC, "93.184.215.15"])
    delivery = pending_delivery(f"https://{HOST}/hooks")
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 0.5)
    waited = []

    def monotonic() -> float:
        return time.monotonic() + sum(waited)

    def never_accepted(address, timeout, **kwargs):
        waited.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr("events.transport.time", SimpleNamespace(monotonic=monotonic))
    monkeypatch.setattr("events.transport.create_connection", never_accepted)

    outcome = delivery_send(delivery, now=NOW, session=webhook_session())

    assert (outcome.status_code, outcome.error) == (None, "ConnectTimeout after 0.5 s")
    assert 0 < sum(waited) <= 0.5, waited


def a_port_nobody_listens_on() -> int:
    with socket.create_server(("127.0.0.1", 0)) as server:
        return server.getsockname()[1]


class Resetting(Listener):
    """Reads the whole request, then resets the connection (RST, not an orderly close).
    Reset before the body has arrived, the client's send would fail first, which urllib3
    passes over to read the answer, and find the connection closed."""

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            while length and len(body) < int(length[1]):
                body += conn.recv(65536)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


@pytest.mark.parametrize(
    ("server", "error"),
    [
        (None, "ConnectionRefusedError: connection refused"),
        (lambda: Listener([b"never"], gap=30), "ReadTimeout after 0.5 s"),
        (
            lambda: Listener([]),
            "RemoteDisconnected: the endpoint closed the connection without an answer",
        ),
        (lambda: Resetting(), "ConnectionResetError: the endpoint reset the connection"),
    ],
    ids=["refused", "never answers", "closes", "resets"],
)
def test_an_attempts_error_says_what_went_wrong_without_the_url(
    loopback, monkeypatch, server, error
):
    """Staff read the attempt's error to tell a refused connection from a reset, a timeout
    from a TLS failure: only the exception's class name was kept ("ConnectionError" for the
    first, third and fourth). The URL (its query string may carry a token) is never in it."""
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 0.5)
    running = server() if server else None
    port = running.port if running else a_port_nobody_listens_on()
    delivery = pending_delivery(f"http://127.0.0.1:{port}/hooks?token=s3cret")

    try:
        outcome = delivery_send(delivery, now=NOW, session=webhook_session())
    finally:
        if running:
            running.stop()

    assert (outcome.status_code, outcome.error) == (None, error)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_failed_attempt_and_never_followed(loopback, status):
    """A receiver (or whoever took its name over) answering a redirect to an internal
    address must not get the worker to post the signed event there."""
    internal = Listener([b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"])
    redirecting = Listener(
        [
            f"HTTP/1.1 {status} Moved\r\nLocation: http://127.0.0.1:{internal.port}/admin\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        ]
    )
    delivery = pending_delivery(f"http://127.0.0.1:{redirecting.port}/hooks")

    try:
        outcome = delivery_send(delivery, now=NOW, session=webhook_session())
    finally:
        redirecting.stop()
        internal.stop()
    delivery_record(delivery.pk, outcome, now=NOW)

    assert internal.accepted == []
    assert (outcome.status_code, outcome.error) == (status, f"HTTP {status}")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("pending", NOW + BACKOFF[0])
