"""The webhook session: it connects only to addresses checked in the resolution it connects
by (DNS rebinding), and an answer must end by the deadline however slowly it is sent."""

import contextlib
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import transaction

from events import services
from events.addresses import AddressRefused
from events.dispatch import BACKOFF, delivery_record, delivery_send
from events.models import Delivery
from events.transport import webhook_session

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC = "93.184.215.14"
HOST = "rebind.example"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


class Listener:
    """A TCP server on loopback (TLS with `tls`): it counts the connections it accepts and
    answers each, once the request has arrived, with `answer` sent a piece every `gap`
    seconds."""

    def __init__(
        self, answer: list[bytes] = (), gap: float = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.answer, self.gap, self.tls = answer, gap, tls
        self.accepted: list = []
        self.requests: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, peer = self.server.accept()
            except OSError:
                continue
            self.accepted.append(peer)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                # The body too: a socket closed with unread data resets the connection, and
                # the client may then lose the answer.
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                while length and len(body) < int(length[1]):
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n")
                for piece in self.answer:
                    if self.stopped.wait(self.gap):
                        return
                    conn.sendall(piece)
            except OSError:
                return

    def stop(self) -> None:
        self.stopped.set()
        self.server.close()


@pytest.fixture
def listener():
    started = Listener()
    yield started
    started.stop()


@pytest.fixture
def dns(monkeypatch):
    """`HOST`'s name server: `dns.answers` are its next answers, the last one for good."""
    real = socket.getaddrinfo

    class Server:
        answers: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != HOST:
            return real(host, port, family, type, proto, flags)
        if not Server.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = Server.answers.pop(0) if len(Server.answers) > 1 else Server.answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return Server


def pending_delivery(url: str) -> Delivery:
    services.endpoint_create(url=url, event_types=["ping"])
    with transaction.atomic():
        services.events_emit([services.Notice("ping", {"n": 1})])
    return Delivery.objects.select_related("event", "endpoint").get()


def test_a_name_that_rebinds_to_loopback_after_the_checks_is_not_connected_to(
    settings, listener, dns
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    # Public when the endpoint is saved and when the delivery is checked, loopback after.
    dns.answers = [PUBLIC, PUBLIC, "127.0.0.1"]
    delivery = pending_delivery(f"https://{HOST}:{listener.port}/hooks")

    outcome = delivery_send(delivery, now=NOW, session=webhook_session())

    assert listener.accepted == []
    assert outcome.status_code is None
    assert outcome.error == f"Not sent: The host {HOST} resolves to a private or internal address."


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_session_never_connects_to_a_refused_address(settings, listener, dns, scheme):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns.answers = ["127.0.0.1"]

    with pytest.raises(AddressRefused):
        webhook_session().post(f"{scheme}://{HOST}:{listener.port}/hooks", timeout=2)

    assert listener.accepted == []


def test_the_session_connects_to_the_checked_address_under_the_urls_name(
    settings, monkeypatch, dns
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    # The check's one resolution: the name resolves no more after it (dns has no answer).
    monkeypatch.setattr(
        "events.transport.addresses_checked", lambda host, port, timeout=None: ["127.0.0.1"]
    )
    answering = Listener([b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"])

    try:
        response = webhook_session().post(f"http://{HOST}:{answering.port}/hooks", timeout=2)
    finally:
        answering.stop()

    assert response.status_code == 204
    assert f"Host: {HOST}:{answering.port}".encode() in answering.requests[0]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> str:
    """A self-signed certificate for `HOST` (its key in the same file)."""
    pem = tmp_path_factory.mktemp("tls") / "host.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"),
            *("-keyout", str(pem), "-out", str(pem)),
        ],
        check=True,
        capture_output=True,
    )
    return str(pem)


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "unknown certificate"])
def test_over_https_the_checked_address_is_verified_under_the_urls_name(
    settings, monkeypatch, dns, certificate, trusted
):
    """TLS runs over the checked connection: the handshake names the URL's host (SNI) and
    its certificate is verified against that name, not against the address connected to."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns.answers = [PUBLIC]
    # The connection's one resolution, checked: loopback, where the test's server is.
    monkeypatch.setattr(
        "events.transport.addresses_checked", lambda host, port, timeout=None: ["127.0.0.1"]
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate)
    answering = Listener([b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"], tls=tls)
    delivery = pending_delivery(f"https://{HOST}:{answering.port}/hooks")
    session = webhook_session()
    session.verify = certificate if trusted else True

    try:
        outcome = delivery_send(delivery, now=NOW, session=session)
    finally:
        answering.stop()

    if trusted:
        assert (outcome.status_code, outcome.error) == (204, "")
        assert f"Host: {HOST}:{answering.port}".encode() in answering.requests[0]
    else:
        assert (outcome.status_code, outcome.error) == (
            None,
            "SSLError: certificate verify failed: self-signed certificate",
        )
        assert answering.requests == []


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


@pytest.mark.parametrize(
    ("hangs_at", "error"),
    [
        ("check", f"Not sent: The host {HOST} did not resolve within 0.2 seconds."),
        ("connection", "ConnectTimeout after 0.2 s"),
    ],
    ids=["the check", "the connection"],
)
def test_a_name_server_that_does_not_answer_is_a_failed_attempt_retried_later(
    settings, monkeypatch, hangs_at, error
):
    """A delivery resolves its endpoint's name twice: the check before the attempt
    (url_refusal) and the connection's own (events.transport). Each called getaddrinfo with
    no bound but the system resolver's own, so a name server that does not answer held a
    sending thread past the attempt's deadline. Here it does not answer until the test
    ends: the attempt gives up at its deadline and is retried, as after a connect timeout."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: [PUBLIC])
    delivery = pending_delivery(f"https://{HOST}/hooks")
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 0.2)
    answer, gave_up = threading.Event(), threading.Event()
    asked = []

    def name_server(host, port):
        asked.append(host)
        if hangs_at == "check" or len(asked) > 1:
            answer.wait(10)
            gave_up.set()
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [PUBLIC]

    monkeypatch.setattr("events.addresses.resolve", name_server)

    try:
        outcome = delivery_send(delivery, now=NOW, session=webhook_session())
        still_resolving = not gave_up.is_set()
    finally:
        answer.set()
    delivery_record(delivery.pk, outcome, now=NOW)

    # The attempt ended while the name server was still being waited for.
    assert still_resolving
    assert (outcome.status_code, outcome.error) == (None, error)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "pending",
        1,
        NOW + BACKOFF[0],
    )


def test_a_slow_name_server_leaves_the_connection_only_what_is_left_of_the_attempt(
    settings, monkeypatch
):
    """The connection's resolution was bounded by the connect timeout, and the connect that
    followed had a whole connect timeout again: a name server answering just in time and an
    endpoint that never accepts held the attempt for twice its time."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: [PUBLIC])
    delivery = pending_delivery(f"https://{HOST}/hooks")
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 0.5)
    asked = []

    def name_server(host, port):
        asked.append(host)
        if len(asked) > 1:
            time.sleep(0.4)
        return [PUBLIC]

    def never_accepted(address, timeout, **kwargs):
        time.sleep(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr("events.addresses.resolve", name_server)
    monkeypatch.setattr("events.transport.create_connection", never_accepted)
    started = time.monotonic()

    outcome = delivery_send(delivery, now=NOW, session=webhook_session())

    assert (outcome.status_code, outcome.error) == (None, "ConnectTimeout after 0.5 s")
    assert len(asked) == 2
    assert time.monotonic() - started < 0.7


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
