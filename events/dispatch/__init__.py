"""Sending: deliveries that are due are leased, signed by the Standard Webhooks scheme and
POSTed after commit, each attempt recorded. A thread pool sends them, at most a few at once
per endpoint, so one slow or dead endpoint never holds up the others."""

from events.dispatch.claiming import deliveries_claim
from events.dispatch.dispatcher import Dispatcher
from events.dispatch.recording import (
    BACKOFF,
    DISABLE_AFTER_FAILURES,
    deliveries_record,
    delivery_record,
)
from events.dispatch.sending import Outcome, delivery_send, event_body, signed_headers

__all__ = [
    "BACKOFF",
    "DISABLE_AFTER_FAILURES",
    "Dispatcher",
    "Outcome",
    "deliveries_claim",
    "deliveries_record",
    "delivery_record",
    "delivery_send",
    "event_body",
    "signed_headers",
]
