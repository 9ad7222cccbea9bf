"""One attempt over the network: the event's body, signed by the Standard Webhooks scheme,
POSTed outside any transaction, and what came of it as an Outcome."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
import urllib3
from standardwebhooks import Webhook
from urllib3.util import Timeout

from common.api.fields import api_time
from events.addresses import AddressRefused, url_refusal
from events.models import BACKOFF, Delivery, Event, WebhookEndpoint
from events.services import previous_secrets_signing

# The whole attempt, from connecting to the answer's last byte (docs/api.md: "A 2xx answer
# within 10 s is delivered").
TIMEOUT_SECONDS = 10
# What is read of an answer's body: enough for the connection to be used again, no more.
ANSWER_BODY_BYTES = 64 * 1024
# What an attempt's error says at most (the database keeps 1000 characters).
ERROR_LENGTH = 300
# The answers by which a receiver asks to be sent less, whose `Retry-After` says until when
# (RFC 9110 for 503, RFC 6585 for 429; Standard Webhooks, "Delivery success and failure").
SLOW_DOWN = frozenset({429, 503})
# The longest a `Retry-After` is waited for: the schedule's last wait.
RETRY_AFTER_MAX = BACKOFF[-1]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str = ""
    # What the receiver's `Retry-After` asked for (on a 429 or 503 only), within bounds.
    retry_after: timedelta | None = None
    # Where it was sent (None: not known): staff may give the endpoint a new URL meanwhile.
    url: str | None = None
    # The endpoint's `pause_lifted_at` as it was sent (known when `url` is): staff may lift
    # its pause meanwhile.
    pause_lifted_at: datetime | None = None
    # The delivery's `resent_at` as it was sent (known when `url` is): staff may resend its
    # event meanwhile.
    resent_at: datetime | None = None
    # When it was sent (known when `url` is): another worker's newer 2xx may be recorded first.
    sent_at: datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(event: Event) -> bytes:
    return json.dumps(
        {
            "id": event.webhook_id,
            "type": event.type,
            "created_at": api_time(event.created_at),
            "data": event.data,
        },
        separators=(",", ":"),
    ).encode()


def signed_headers(endpoint: WebhookEndpoint, event: Event, body: bytes, now: datetime) -> dict:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature`: one `v1,` signature per
    secret in use (the current one, and each rotated out in the last 24 h)."""
    keys = [endpoint.secret, *(secret for secret, _ in previous_secrets_signing(endpoint, now))]
    signatures = [
        Webhook(key).sign(msg_id=event.webhook_id, timestamp=now, data=body) for key in keys
    ]
    return {
        "content-type": "application/json",
        "webhook-id": event.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def delivery_send(delivery: Delivery, *, now: datetime, session: requests.Session) -> Outcome:
    """One attempt (see _attempt), with the URL it went to, the last lift of a pause and the
    last resend before it."""
    return replace(
        _attempt(delivery, now=now, session=session),
        url=delivery.endpoint.url,
        pause_lifted_at=delivery.endpoint.pause_lifted_at,
        resent_at=delivery.resent_at,
        sent_at=now,
    )


def _attempt(delivery: Delivery, *, now: datetime, session: requests.Session) -> Outcome:
    """One attempt over the network, outside any transaction, over a `webhook_session()` (it
    keeps connections to an endpoint open between attempts, and checks the address it
    connects to). The answer must end within TIMEOUT_SECONDS of the attempt's start, however
    slowly the name servers answer or the endpoint sends it, so that an attempt never outlives
    its lease; its body is read up to ANSWER_BODY_BYTES only, enough to keep the connection
    for the next attempt. Whatever the endpoint or the network does is an Outcome, never an
    exception."""
    started = time.monotonic()
    # Resolving the endpoint's name is part of the attempt: a name server that does not
    # answer is given the attempt's time and no more (a refusal, retried as any failure).
    refusal = url_refusal(delivery.endpoint.url, timeout=TIMEOUT_SECONDS)
    remaining = TIMEOUT_SECONDS - (time.monotonic() - started)
    if not refusal and remaining <= 0:
        refusal = "Resolving the host took all of the attempt's time."
    if refusal:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(status_code=None, duration_ms=elapsed, error=f"Not sent: {refusal}")
    body = event_body(delivery.event)
    try:
        with session.post(
            delivery.endpoint.url,
            data=body,
            headers=signed_headers(delivery.endpoint, delivery.event, body, now),
            timeout=Timeout(total=remaining),
            allow_redirects=False,
            stream=True,
        ) as response:
            response.raw.read(ANSWER_BODY_BYTES, decode_content=False)
    except AddressRefused as refused:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(status_code=None, duration_ms=elapsed, error=f"Not sent: {refused}")
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(status_code=None, duration_ms=elapsed, error=_error_name(error))
    elapsed = int((time.monotonic() - started) * 1000)
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    wait = None
    if response.status_code in SLOW_DOWN:
        wait = retry_after(response.headers.get("retry-after"), now=now)
    return Outcome(
        status_code=response.status_code, duration_ms=elapsed, error=error, retry_after=wait
    )


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """The wait a `Retry-After` asks for, delay-seconds or an HTTP-date (RFC 9110), at most
    RETRY_AFTER_MAX; None when it is missing, unreadable (a negative or fractional number,
    words), or asks for no wait (0, a date not after `now`, the attempt's start: measured
    from it, the wait recorded is never shorter than the one asked for)."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        # More digits than 24 h's need are the bound, not a number to convert.
        seconds = int(digits) if len(digits) <= 9 else 10**9
        wait = timedelta(seconds=min(seconds, RETRY_AFTER_MAX.total_seconds()))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        wait = (when if when.tzinfo else when.replace(tzinfo=UTC)) - now
    if wait <= timedelta(0):
        return None
    return min(wait, RETRY_AFTER_MAX)


def _error_name(error: Exception) -> str:
    """What went wrong, for staff reading the attempt: the innermost cause that tells a
    refused connection from a reset, a timeout from a TLS failure, with a short sentence.
    Written from the exceptions' types and the system's own words (strerror, the TLS
    library's reason), never from their text, which names the URL (its query string may
    carry a token). A body that outlives the deadline raises urllib3's ReadTimeoutError; it
    is recorded as the same timeout as headers that outlive it."""
    within = f"{TIMEOUT_SECONDS:g} s"
    if isinstance(error, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return f"ConnectTimeout after {within}"
    if isinstance(error, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        return f"ReadTimeout after {within}"
    for cause in _causes(error):
        described = _described(cause)
        if described:
            return described[:ERROR_LENGTH]
    return type(error).__name__


def _described(cause: BaseException) -> str | None:
    name = type(cause).__name__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"SSLError: certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return f"SSLError: {(cause.reason or name).replace('_', ' ').lower()}"
    if isinstance(cause, http.client.RemoteDisconnected):
        return f"{name}: the endpoint closed the connection without an answer"
    if isinstance(cause, ConnectionRefusedError):
        return f"{name}: connection refused"
    if isinstance(cause, ConnectionResetError):
        return f"{name}: the endpoint reset the connection"
    if isinstance(cause, socket.gaierror):
        return f"{name}: the host name did not resolve ({cause.strerror})"
    if isinstance(cause, TimeoutError):
        return f"{name}: timed out"
    if isinstance(cause, urllib3.exceptions.IncompleteRead | http.client.IncompleteRead):
        return f"{name}: the answer ended before its announced length"
    if isinstance(cause, OSError) and cause.strerror:
        return f"{name}: {cause.strerror}"
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps, innermost first: requests wraps urllib3's errors (in
    `args`), which name theirs as `reason` or raise from them (`__cause__`)."""
    chain: list[BaseException] = []
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__]
        wrapped += list(current.args)
        todo.extend(inner for inner in wrapped if isinstance(inner, BaseException))
    return reversed(chain)
