"""A listener and the addresses shared by this package's transport test modules."""

import re
import socket
import ssl
import threading
from datetime import UTC, datetime

from django.db import transaction

from events import services
from events.models import Delivery

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


def pending_delivery(url: str) -> Delivery:
    services.endpoint_create(url=url, event_types=["ping"])
    with transaction.atomic():
        services.events_emit([services.Notice("ping", {"n": 1})])
    return Delivery.objects.select_related("event", "endpoint").get()
