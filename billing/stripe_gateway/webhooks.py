"""What Stripe sends us: its webhook's signature, and which mode our key is in."""

from __future__ import annotations

import json

import stripe
from django.conf import settings

from billing.stripe_gateway.client import InvalidStripeSignature
from common.errors import Invalid


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
    Invalid for a signed body nested too deeply for the parser (about a thousand levels),
    as the capture webhook answers one (common.api.parsers.parse_json_bytes).
    """
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise InvalidStripeSignature("No Stripe webhook secret is configured.")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=300
        )
        return json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as error:
        raise InvalidStripeSignature(f"The Stripe signature is not valid: {error}") from error
    except RecursionError as error:
        raise Invalid(
            "non_field_errors", "The body is not valid JSON: values are nested too deeply."
        ) from error
