"""A seller's webhook receiver on loopback, for tests: it records what arrives and verifies
each signature with the `standardwebhooks` package, as a real receiver would."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict
    body: bytes
    verified: bool


@dataclass
class Receiver:
    """`fail_first`: answer `fail_status` (500) with `fail_headers` to that many requests;
    `hold`: block each request until the event is set (a receiver that hangs)."""

    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0
    fail_status: int = 500
    fail_headers: dict = field(default_factory=dict)
    hold: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {key.lower(): value for key, value in self.headers.items()}
                verified = any(_verifies(secret, body, headers) for secret in receiver.secrets)
                receiver.received.append(Received(headers, body, verified))
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                failing = len(receiver.received) <= receiver.fail_first
                self.send_response(receiver.fail_status if failing else 204)
                for name, value in receiver.fail_headers.items() if failing else ():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def _verifies(secret: str, body: bytes, headers: dict) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True
