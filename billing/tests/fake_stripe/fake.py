"""FakeStripe: its state, the server it runs, and what Stripe would do on its side."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import stripe

from billing.tests.fake_stripe.api import Recorded, StripeApi


@dataclass
class FakeStripe(StripeApi):
    webhook_secret: str
    app_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    payment_intents: dict[str, dict] = field(default_factory=dict)
    charges: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    disputes: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    failures: int = 0
    failures_saved: bool = False
    base: str = ""

    def __post_init__(self) -> None:
        self._answers: dict[str, tuple[int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._next_create_action: Callable[[], None] | None = None
        self._next_expire_action: Callable[[], None] | None = None
        self._next_refund_action: Callable[[], None] | None = None

    # Running.

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def log_message(self, *args) -> None:
                """Quiet: the tests read `requests` instead."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def fail_next(self, count: int = 1, *, saved: bool = False) -> None:
        """The next `count` API calls answer 500 (and tell the SDK not to retry). `saved`:
        as a failure once the endpoint had begun, which Stripe keeps under the request's
        idempotency key and answers again to the same key for 24 hours."""
        self.failures = count
        self.failures_saved = saved

    def on_next_create(self, action: Callable[[], None]) -> None:
        """As on_next_expire, for the next Checkout Session created: what happens elsewhere
        (a cancel in another tab) while the caller waits for its new session."""
        self._next_create_action = action

    def on_next_expire(self, action: Callable[[], None]) -> None:
        """`action` runs once, after the next expire request has been handled and before it
        is answered: what happens elsewhere (another request to the app) while the caller
        waits for Stripe. It runs outside the fake's lock, so it may call the fake too."""
        self._next_expire_action = action

    def on_next_refund(self, action: Callable[[], None]) -> None:
        """As on_next_expire, for the next refund request: what Stripe does (a webhook of the
        refund delivered) while the caller still waits for its answer."""
        self._next_refund_action = action

    # What Stripe would do on its side.

    def complete(self, session_id: str) -> dict:
        """The customer paid: the session completes; returns the event Stripe would send."""
        session = self.sessions[session_id]
        assert session["status"] == "open", f"Stripe takes no payment on a {session['status']} one"
        session.update(status="complete", payment_status="paid")
        session["payment_intent"] = session["payment_intent"] or f"pi_test_{next(self._ids)}"
        self.payment_succeeded(session)
        return self.event("checkout.session.completed", session)

    def complete_unpaid(self, session_id: str) -> dict:
        """The customer paid by bank debit: the session completes unpaid while the money is
        on its way (its PaymentIntent `processing`); returns the event Stripe would send."""
        session = self.sessions[session_id]
        assert session["status"] == "open", f"Stripe takes no payment on a {session['status']} one"
        session.update(status="complete", payment_status="unpaid")
        session["payment_intent"] = session["payment_intent"] or f"pi_test_{next(self._ids)}"
        self.payment_intents[session["payment_intent"]] = {
            "id": session["payment_intent"],
            "object": "payment_intent",
            "status": "processing",
            "amount": session["amount_total"],
            "amount_received": 0,
            "currency": session["currency"],
            "latest_charge": None,
        }
        return self.event("checkout.session.completed", session)

    def debit_failed(self, session_id: str) -> dict:
        """The bank debit of a session completed unpaid fails: the session stays complete and
        unpaid, its PaymentIntent asks for another payment method; returns the event."""
        session = self.sessions[session_id]
        self.payment_intents[session["payment_intent"]]["status"] = "requires_payment_method"
        return self.event("checkout.session.async_payment_failed", session)

    def payment_succeeded(self, session: dict) -> None:
        """The PaymentIntent of a completed session and its charge, as Stripe answers them
        afterwards."""
        charge = self._charge(session)
        self.charges[charge["id"]] = charge
        self.payment_intents[session["payment_intent"]] = {
            "id": session["payment_intent"],
            "object": "payment_intent",
            "status": "succeeded",
            "amount": session["amount_total"],
            "amount_received": session["amount_total"],
            "currency": session["currency"],
            "latest_charge": charge["id"],
        }

    def expire(self, session_id: str) -> dict:
        self.sessions[session_id]["status"] = "expired"
        return self.event("checkout.session.expired", self.sessions[session_id])

    def refunded(self, session_id: str, *, amount: int | None = None) -> dict:
        """The session's payment is refunded at Stripe (whole unless `amount`): its charge
        says so from now on; returns the `charge.refunded` event Stripe would send."""
        session = self.sessions[session_id]
        intent = self.payment_intents.get(session["payment_intent"] or "", {})
        charge = self.charges.get(intent.get("latest_charge") or "") or self._charge(session)
        self._refund(charge, amount)
        return self.event("charge.refunded", charge)

    def disputed(self, session_id: str, *, reason: str = "fraudulent") -> dict:
        """The customer disputes the session's payment with their bank (a chargeback): Stripe
        takes the whole amount back from the balance; returns the `charge.dispute.created`
        event Stripe would send."""
        session = self.sessions[session_id]
        intent = self.payment_intents[session["payment_intent"]]
        dispute = {
            "id": f"dp_test_{next(self._ids)}",
            "object": "dispute",
            "amount": session["amount_total"],
            "currency": session["currency"],
            "charge": intent["latest_charge"],
            "payment_intent": session["payment_intent"],
            "reason": reason,
            "status": "needs_response",
        }
        self.disputes[session_id] = dispute
        return self.event("charge.dispute.created", dispute)

    def dispute_closed(self, session_id: str, *, status: str = "lost") -> dict:
        """The bank decides the session's dispute: `lost` (the money stays with the customer)
        or `won` (it comes back); returns the `charge.dispute.closed` event Stripe sends."""
        dispute = self.disputes[session_id]
        dispute["status"] = status
        return self.event("charge.dispute.closed", dispute)

    def refund_failed(self, session_id: str, *, reason: str = "expired_or_canceled_card") -> dict:
        """The bank refused the refund of the session's payment (a closed card): the money
        comes back to the balance and the charge is no longer refunded; returns the
        `charge.refund.updated` event Stripe would send. It names the payment's last refund
        made through the API, if any (a refund made in the dashboard has an id of its own)."""
        session = self.sessions[session_id]
        intent = self.payment_intents[session["payment_intent"]]
        charge = self.charges[intent["latest_charge"]]
        made = [
            refund_id
            for refund_id, refund in self.refunds.items()
            if refund["payment_intent"] == session["payment_intent"]
        ]
        refund = {
            "id": made[-1] if made else f"re_test_{next(self._ids)}",
            "object": "refund",
            "amount": charge["amount_refunded"],
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": session["payment_intent"],
            "status": "failed",
            "failure_reason": reason,
        }
        charge.update(amount_refunded=0, refunded=False)
        return self.event("charge.refund.updated", refund)

    def _charge(self, session: dict) -> dict:
        return {
            "id": f"ch_test_{next(self._ids)}",
            "object": "charge",
            "payment_intent": session["payment_intent"],
            "amount": session["amount_total"],
            "amount_refunded": 0,
            "refunded": False,
            "currency": session["currency"],
        }

    @staticmethod
    def _refund(charge: dict, amount: int | None) -> None:
        refunded = charge["amount"] if amount is None else amount
        charge.update(amount_refunded=refunded, refunded=refunded == charge["amount"])

    def event(self, kind: str, body: dict) -> dict:
        """An event Stripe creates, and lists from then on (`GET /v1/events`)."""
        event = {
            "id": f"evt_test_{next(self._ids)}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": dict(body)},
        }
        self.events.append(event)
        return event

    def signed(self, event: dict, *, secret: str | None = None) -> tuple[bytes, str]:
        """The event's body and its `Stripe-Signature` header, made by the SDK's own helper."""
        payload = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret
        )
        return payload.encode(), header

    def deliver(self, event: dict) -> int:
        """Posts the signed event to the app's Stripe webhook, as Stripe would."""
        body, header = self.signed(event)
        request = urllib.request.Request(
            f"{self.app_url}/api/v1/webhooks/stripe",
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
