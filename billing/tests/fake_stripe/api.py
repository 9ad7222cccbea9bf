"""The fake's side of the wire: Stripe's form-encoded requests parsed, recorded and answered
as Stripe answers them, and the hosted checkout page a browser is sent to."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit


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


class StripeApi:
    """What FakeStripe answers over HTTP; the state it reads is FakeStripe's."""

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        params = nest(parse_qsl(raw or url.query, keep_blank_values=True))
        with self._lock:
            if url.path.startswith("/v1/"):
                self.requests.append(Recorded(method, url.path, dict(handler.headers), params))
            status, body, headers = self._answer(method, url.path, params, handler.headers)
            action = None
            if method == "POST" and url.path == "/v1/checkout/sessions":
                action, self._next_create_action = self._next_create_action, None
            elif method == "POST" and url.path.endswith("/expire"):
                action, self._next_expire_action = self._next_expire_action, None
            elif method == "POST" and url.path == "/v1/refunds":
                action, self._next_refund_action = self._next_refund_action, None
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
        key = headers.get("Idempotency-Key")
        if self.failures:
            self.failures -= 1
            error = {"error": {"type": "api_error", "message": "The fake is failing on purpose."}}
            if self.failures_saved and method == "POST" and key:
                self._answers[key] = (500, error)
            return 500, error, {**json_headers, "Stripe-Should-Retry": "false"}
        if method == "POST" and key and key in self._answers:
            status, body = self._answers[key]
            replayed = {**json_headers, "Idempotent-Replayed": "true"}
            if status >= 500:
                replayed["Stripe-Should-Retry"] = "false"
            return status, body, replayed
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
