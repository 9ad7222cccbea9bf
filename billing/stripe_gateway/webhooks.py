"""What Stripe sends us: its webhook's signature, and which mode our key is in."""

from __future__ import annotations

import json

import stripe
from django.conf import settings

from billing.stripe_gateway.client import InvalidStripeSignature
from common.errors import Invalid
from common.text import storable


def key_livemode() -> bool | None:
    """Whether STRIPE_SECRET_KEY is a live-mode key (True) or a test-mode one (False), by
    its prefix; None when it is not set or says neither. No network call."""
    key = settings.STRIPE_SECRET_KEY
    for prefix, live in (("sk_live_", True), ("rk_live_", True), ("sk_test_", False)):
        if key.startswith(prefix):
            return live
    return False if key.startswith("rk_test_") else None


def webhook_event_verify(*, payload: bytes, signature_header: str | None) -> dict:
    """The event, as plain JSON, once the SDK has verified its `Stripe-Signature`.

    Raises InvalidStripeSignature (also without a configured STRIPE_WEBHOOK_SECRET), and
    Invalid for a signed body webhook_event_parse refuses.
    """
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise InvalidStripeSignature("No Stripe webhook secret is configured.")
    if signature_header is not None and not signature_header.isascii():
        # The SDK compares signatures with hmac.compare_digest, which raises TypeError on
        # text that is not ASCII: a 500 for anyone who sent such a header.
        raise InvalidStripeSignature("The Stripe signature is not valid: it is not ASCII.")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=300
        )
        return webhook_event_parse(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as error:
        raise InvalidStripeSignature(f"The Stripe signature is not valid: {error}") from error


def webhook_event_parse(payload: bytes | str) -> dict:
    """The event a verified body carries: on delivery, and when staff re-process the body
    stored then (a body refused on delivery is stored too, its signature valid).

    Raises ValueError for a body that is not JSON, and Invalid for one nested too deeply for
    the parser (about a thousand levels), as the capture webhook answers one
    (common.api.parsers.parse_json_bytes), holding text no database can store
    (`_storable`), or whose id or type cannot be one.
    """
    try:
        event = json.loads(payload)
    except RecursionError as error:
        raise Invalid(
            "non_field_errors", "The body is not valid JSON: values are nested too deeply."
        ) from error
    if not _storable(event):
        raise Invalid("non_field_errors", "The body holds a NUL or a lone surrogate (\\ud800).")
    _event_names_checked(event)
    return event


def _event_names_checked(event: object) -> None:
    """An event's `id` and `type`, when it has them, are text its row can hold (255 and any
    length: the type is cut to 100 there). A longer id could be neither claimed nor recorded
    as failed, and a type that is not text failed the choice of its handler (unhashable):
    both answered 500, and Stripe retried them for days."""
    if not isinstance(event, dict):
        return
    event_id, kind = event.get("id"), event.get("type")
    if event_id is not None and (not isinstance(event_id, str) or len(event_id) > 255):
        raise Invalid("id", "Must be a string of at most 255 characters.")
    if kind is not None and not isinstance(kind, str):
        raise Invalid("type", "Must be a string.")


def _storable(value: object) -> bool:
    """Whether no string in the event, key or value, holds a NUL (PostgreSQL's text refuses
    it) or a lone surrogate (a JSON escape such as `\\ud800`, which no UTF-8 holds). The
    event's id, type and references are written and looked up as they come, and one that
    cannot be sent to the database answered 500, its failure unrecorded too, so Stripe
    retried it for days. Walked without recursion: the parser allows about a thousand
    levels, the stack left here fewer."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not storable(item):
            return False
    return True
