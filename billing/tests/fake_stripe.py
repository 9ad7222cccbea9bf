"""A small fake of Stripe's HTTP API on loopback, for tests that use the real SDK.

It answers Checkout Session create/retrieve/expire, PaymentIntent retrieve (of the sessions it
saw paid; `expand[]=latest_charge` gives its charge, refunded or not), refund create (400
`charge_already_refunded` for a charge refunded whole, 400 `charge_disputed` for one disputed
and not won) and the list of events (every event it
produced, whether delivered or not; `types[]`, `created[gte|gt|lte|lt]`, `limit` and
`starting_after`, newest first) as Stripe does (form-encoded requests, JSON answers,
idempotency keys, 404 `resource_missing` for an object it does not have), records every
request, fails on demand, and can produce the events Stripe would send, signed with Stripe's
scheme (`created` is `time.time()`'s, so a test's clock dates them). For browser tests it also
serves a checkout page whose Pay button completes the session, delivers the signed
`checkout.session.completed` webhook to the app and redirects to the success URL.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`line_items[0][price_data][unit_amount]=500` as the nested structure it stands for."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def _missing(path: str) -> tuple[int, dict]:
    """Stripe's answer for an object it does not have (one of the other mode, test or live)."""
    error = {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": f"No such {path}",
    }
    return 404, {"error": error}


@dataclass
class FakeStripe:
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
    base: str = ""

    def __post_init__(self) -> None:
        self._answers: dict[str, tuple[int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._next_expire_action: Callable[[], None] | None = None

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

    def fail_next(self, count: int = 1) -> None:
        """The next `count` API calls answer 500 (and tell the SDK not to retry)."""
        self.failures = count

    def on_next_expire(self, action: Callable[[], None]) -> None:
        """`action` runs once, after the next expire request has been handled and before it
        is answered: what happens elsewhere (another request to the app) while the caller
        waits for Stripe. It runs outside the fake's lock, so it may call the fake too."""
        self._next_expire_action = action

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
        `charge.refund.updated` event Stripe would send."""
        session = self.sessions[session_id]
        intent = self.payment_intents[session["payment_intent"]]
        charge = self.charges[intent["latest_charge"]]
        refund = {
            "id": f"re_test_{next(self._ids)}",
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

    # HTTP.

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        params = nest(parse_qsl(raw or url.query, keep_blank_values=True))
        with self._lock:
            if url.path.startswith("/v1/"):
                self.requests.append(Recorded(method, url.path, dict(handler.headers), params))
            status, body, headers = self._answer(method, url.path, params, handler.headers)
            expiring = method == "POST" and url.path.endswith("/expire")
            action = self._next_expire_action if expiring else None
            if action is not None:
                self._next_expire_action = None
        if action is not None:
            action()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def _answer(self, method: str, path: str, params: dict, headers) -> tuple[int, Any, dict]:
        json_headers = {"Content-Type": "application/json"}
        if path.startswith("/checkout/"):
            return self._page(method, path)
        if self.failures:
            self.failures -= 1
            error = {"error": {"type": "api_error", "message": "The fake is failing on purpose."}}
            return 500, error, {**json_headers, "Stripe-Should-Retry": "false"}
        key = headers.get("Idempotency-Key")
        if method == "POST" and key and key in self._answers:
            status, body = self._answers[key]
            return status, body, {**json_headers, "Idempotent-Replayed": "true"}
        status, body = self._api(method, path, params)
        if method == "POST" and key:
            self._answers[key] = (status, body)
        return status, body, json_headers

    def _api(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            if not params.get("customer_email", "").isascii():
                # Stripe takes only ASCII addresses (an IDN domain in its xn-- form).
                message = "Invalid email address: " + params["customer_email"]
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "email_invalid",
                        "param": "customer_email",
                        "message": message,
                    }
                }
            ends = params.get("expires_at")
            if ends is not None and not 30 * 60 <= int(ends) - time.time() <= 24 * 3600:
                # Stripe takes a session's end from 30 minutes to 24 hours after it is made.
                message = "The `expires_at` timestamp must be between 30 minutes and 24 hours."
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "param": "expires_at",
                        "message": message,
                    }
                }
            return 200, self._create_session(params)
        for prefix, kept in (
            ("/v1/checkout/sessions/", self.sessions),
            ("/v1/payment_intents/", self.payment_intents),
        ):
            if method == "GET" and path.startswith(prefix):
                found = kept.get(path.removeprefix(prefix))
                if found is None:
                    return _missing(path)
                return 200, self._expanded(found, params.get("expand", []))
        if method == "GET" and path == "/v1/events":
            return self._events(params)
        if method == "POST" and path.startswith("/v1/checkout/sessions/"):
            return self._expire_session(path.removeprefix("/v1/checkout/sessions/"))
        if method == "POST" and path == "/v1/refunds":
            intent = self.payment_intents.get(params.get("payment_intent") or "", {})
            charge = self.charges.get(intent.get("latest_charge") or "")
            disputed = [
                dispute
                for dispute in self.disputes.values()
                if dispute["payment_intent"] == params.get("payment_intent")
                and dispute["status"] != "won"
            ]
            if disputed:
                # A chargeback, open or lost: the bank has the money, Stripe refunds nothing.
                error = {
                    "type": "invalid_request_error",
                    "code": "charge_disputed",
                    "message": f"Charge {disputed[0]['charge']} has been charged back; "
                    "cannot issue a refund.",
                }
                return 400, {"error": error}
            if charge is not None and charge["refunded"]:
                error = {
                    "type": "invalid_request_error",
                    "code": "charge_already_refunded",
                    "message": f"Charge {charge['id']} has already been refunded.",
                }
                return 400, {"error": error}
            if charge is not None:
                self._refund(charge, None)
            refund = {
                "id": f"re_test_{next(self._ids)}",
                "object": "refund",
                "payment_intent": params.get("payment_intent"),
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            return 200, refund
        return 404, {"error": {"type": "invalid_request_error", "message": f"No route {path}"}}

    def _events(self, params: dict) -> tuple[int, dict]:
        """GET /v1/events: newest first (the later of two in the same second first), a page of
        `limit` (10 unless asked, at most 100) after the event `starting_after` names."""
        types = params.get("types") or ([params["type"]] if params.get("type") else [])
        types = list(types.values()) if isinstance(types, dict) else types
        created = params.get("created")
        bounds = created if isinstance(created, dict) else {"eq": created} if created else {}
        tests = {
            "gte": lambda at, bound: at >= bound,
            "gt": lambda at, bound: at > bound,
            "lte": lambda at, bound: at <= bound,
            "lt": lambda at, bound: at < bound,
            "eq": lambda at, bound: at == bound,
        }
        listed = [
            event
            for event in reversed(self.events)
            if (not types or event["type"] in types)
            and all(tests[op](event["created"], int(bound)) for op, bound in bounds.items())
        ]
        listed.sort(key=lambda event: event["created"], reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [event["id"] for event in listed]
            if after not in ids:
                return _missing(f"event: {after}")
            listed = listed[ids.index(after) + 1 :]
        limit = min(int(params.get("limit") or 10), 100)
        return 200, {
            "object": "list",
            "url": "/v1/events",
            "has_more": len(listed) > limit,
            "data": listed[:limit],
        }

    def _expanded(self, found: dict, expand: list[str]) -> dict:
        """`?expand[]=latest_charge` answers a PaymentIntent with its charge in place of the id."""
        if "latest_charge" in expand and found.get("latest_charge") in self.charges:
            return {**found, "latest_charge": self.charges[found["latest_charge"]]}
        return found

    def _expire_session(self, rest: str) -> tuple[int, dict]:
        """POST /v1/checkout/sessions/{id}/expire: only an open session can be expired."""
        session = self.sessions.get(rest.removesuffix("/expire"))
        if session is None or not rest.endswith("/expire"):
            return _missing(rest)
        if session["status"] != "open":
            message = f"Only Checkout Sessions with a status in [open] can be expired; {rest}."
            return 400, {"error": {"type": "invalid_request_error", "message": message}}
        session["status"] = "expired"
        return 200, session

    def _create_session(self, params: dict) -> dict:
        session_id = f"cs_test_{next(self._ids)}"
        lines = params.get("line_items", [])
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode"),
            "url": f"{self.base}/checkout/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": sum(
                int(line["quantity"]) * int(line["price_data"]["unit_amount"]) for line in lines
            ),
            "currency": lines[0]["price_data"]["currency"] if lines else "usd",
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata", {}),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "payment_intent": None,
            "created": now,
            "expires_at": int(params.get("expires_at") or now + 24 * 3600),
        }
        self.sessions[session_id] = session
        return session

    def _page(self, method: str, path: str) -> tuple[int, Any, dict]:
        """The hosted checkout page a browser is sent to."""
        session_id, _, action = path.removeprefix("/checkout/").partition("/")
        session = self.sessions.get(session_id)
        if session is None:
            return 404, b"No such session", {"Content-Type": "text/plain"}
        if method == "POST" and action == "pay":
            event = self.complete(session_id)
            threading.Thread(target=self.deliver, args=(event,), daemon=True).start()
            target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
            return HTTPStatus.SEE_OTHER, b"", {"Location": target}
        if method == "POST" and action == "cancel":
            return HTTPStatus.SEE_OTHER, b"", {"Location": session["cancel_url"]}
        amount = f"{Decimal(session['amount_total']).scaleb(-2)} {session['currency'].upper()}"
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Fake Stripe Checkout</title><link rel="icon" href="data:,"></head><body>
<h1>Fake Stripe Checkout</h1><p>Pay <strong id="amount">{amount}</strong></p>
<form method="post" action="/checkout/{session_id}/pay"><button id="pay">Pay</button></form>
<form method="post" action="/checkout/{session_id}/cancel">
<button id="cancel">Cancel</button></form>
</body></html>"""
        return 200, page.encode(), {"Content-Type": "text/html; charset=utf-8"}
