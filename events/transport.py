"""How a webhook travels: a `requests` session whose connections go only to addresses checked
in the same resolution they connect by, and whose answers end by one deadline.

Checking a URL and then letting `requests` resolve its name again leaves a gap: a name with a
TTL of 0 can answer a public address to the check and 127.0.0.1 to the connection (DNS
rebinding). Here the connection resolves the name once, refuses unless every address is
allowed (the rule of `events.addresses`), and connects to those addresses only.

A read timeout bounds each socket read, so a receiver that trickles its answer a byte at a
time would be waited on without end. Here the read timeout, once the answer is awaited,
becomes a deadline for the whole answer: status line, headers and body."""

from __future__ import annotations

import io
import socket
import time
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from events.addresses import ResolutionTimedOut, addresses_checked


class _AnswerDeadlineSocket:
    """A connected socket (plain or TLS) whose reads all end by `deadline` (monotonic seconds),
    however slowly the peer sends. Everything else is the socket's own."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("The answer did not end in time.")
            self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer, nbytes, flags)

    def makefile(self, mode: str = "rb", buffering: int | None = None) -> io.BufferedReader:
        """What http.client reads answers from (it only ever asks for "rb"): the socket's own
        file, reading through `recv_into` above. The socket counts its open files so that it
        stays open for an answer still being read after its connection let go of it, as
        `socket.makefile` (and urllib3's SSLTransport) do."""
        if mode != "rb":
            raise ValueError(f"Only binary reading is supported, not {mode!r}.")
        raw = socket.SocketIO(self, "rb")  # type: ignore[arg-type]
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        return io.BufferedReader(raw, buffering or io.DEFAULT_BUFFER_SIZE)


class CheckedHTTPConnection(HTTPConnection):
    """Connects only to allowed addresses (unless WEBHOOK_ALLOW_PRIVATE_URLS), and waits for an
    answer no longer than the read timeout in all."""

    def _new_conn(self) -> socket.socket:
        """Raises AddressRefused before any packet leaves for a refused address; otherwise the
        errors urllib3's own `_new_conn` raises, ConnectTimeoutError also for a name server
        that has not answered within the connect timeout."""
        if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
            return super()._new_conn()
        # The connect timeout (what is left of the attempt) bounds the name's resolution and
        # the connection together: the connection has what the resolution left of it.
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        started = time.monotonic()
        try:
            addresses = addresses_checked(self._dns_host, self.port, timeout=timeout)
        except ResolutionTimedOut as error:
            raise ConnectTimeoutError(self, f"{error} (connect timeout={timeout})") from error
        left = self.timeout
        if timeout is not None:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise ConnectTimeoutError(
                    self, f"Resolving {self.host} took the connect timeout ({timeout})."
                )
        try:
            return _connect_to_first(self, addresses, left)
        except TimeoutError as error:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from error
        except OSError as error:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {error}"
            ) from error

    def connect(self) -> None:
        super().connect()
        self.sock = _AnswerDeadlineSocket(self.sock)

    def getresponse(self) -> Any:
        """urllib3 sets the read timeout just before (with `Timeout(total=...)`, what is left
        of the total); it becomes the deadline for the whole answer, body included."""
        if isinstance(self.sock, _AnswerDeadlineSocket):
            self.sock.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        return super().getresponse()


class CheckedHTTPSConnection(CheckedHTTPConnection, HTTPSConnection):
    """The same for https: the address is checked before the TLS handshake."""


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    """An adapter whose pools make checked connections, for http and https alike."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }


def webhook_session() -> requests.Session:
    """A session that keeps connections to endpoints open, over checked connections. It
    ignores proxy variables and ~/.netrc: a webhook goes straight to the address that was
    checked (a proxy would reach addresses the check refuses, and the check would see the
    proxy's address), with no credentials of this machine's (and reading them for every
    request is a good part of its cost)."""
    session = requests.Session()
    session.trust_env = False
    adapter = CheckedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _connect_to_first(
    connection: HTTPConnection, addresses: list[str], timeout: Any
) -> socket.socket:
    """A socket connected to the first of `addresses` that accepts, as urllib3 tries the
    answers of a resolution in turn, all within `timeout` (each is given what the ones before
    it left: a whole timeout each made an attempt last as many times its time as there are
    addresses that never accept); raises the last one's error."""
    deadline = time.monotonic() + timeout if isinstance(timeout, int | float) else None
    error: OSError = OSError("No address to connect to.")
    for address in addresses:
        left = deadline - time.monotonic() if deadline is not None else timeout
        if deadline is not None and left <= 0:
            break
        try:
            return create_connection(
                (address, connection.port),
                left,
                source_address=connection.source_address,
                socket_options=connection.socket_options,
            )
        except OSError as refused:
            error = refused
    raise error
