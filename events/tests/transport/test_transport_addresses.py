"""The webhook session: it connects only to addresses checked in the resolution it connects
by (DNS rebinding), and an answer must end by the deadline however slowly it is sent."""

import socket
import ssl
import subprocess

import pytest

from events.addresses import AddressRefused
from events.dispatch import delivery_send
from events.tests.transport.helpers import HOST, NOW, PUBLIC, Listener, pending_delivery
from events.transport import webhook_session

pytestmark = pytest.mark.django_db(transaction=True)


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
