"""The SDK's client as every call here makes it, the errors callers catch, and what Stripe's
answers have in common."""

from __future__ import annotations

from datetime import UTC, datetime

import stripe
from django.conf import settings

from common.errors import DomainError, Rejected

# A call waits at most REQUEST_TIMEOUT_SECONDS, and once more, after at most
# MAX_RETRY_DELAY_SECONDS (the SDK's backoff cap), on a network error: 25 s in all, below
# gunicorn's 30 s worker timeout (README: Timeouts).
REQUEST_TIMEOUT_SECONDS = 10
MAX_NETWORK_RETRIES = 1
MAX_RETRY_DELAY_SECONDS = 5


class PaymentProviderError(DomainError):
    code = "payment_provider_error"
    http_status = 502
    default_message = "The payment provider could not be reached; nothing was charged. Retry."


class PaymentUnknownToStripe(PaymentProviderError):
    """Stripe answered that it has no such object (404)."""

    default_message = "Stripe does not know this payment."


class PaymentAlreadyRefunded(PaymentProviderError):
    """Stripe refused a refund because the whole payment went back already (400
    `charge_already_refunded`): refunded in its dashboard, say."""

    default_message = "Stripe has refunded this payment already."


class PaymentDisputed(PaymentProviderError):
    """Stripe refused a refund because the payment is disputed (400 `charge_disputed`): the
    customer's bank took the money back and holds it while the dispute is open, or kept it
    for them when the dispute was lost."""

    default_message = "Stripe cannot refund a disputed payment."


class InvalidStripeSignature(Rejected):
    code = "invalid_signature"


def stripe_configured() -> bool:
    """Whether this service takes payments through Stripe (STRIPE_SECRET_KEY is set)."""
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentProviderError("Stripe is not configured (STRIPE_SECRET_KEY is not set).")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT_SECONDS),
        max_network_retries=MAX_NETWORK_RETRIES,
    )


def stripe_time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def resource_missing(error: stripe.InvalidRequestError) -> bool:
    """Stripe has no object at that address: one made with the other mode's keys (test or
    live) or in another account. A 404 without `resource_missing` (an address Stripe does
    not serve) is a fault of ours or of something in between, not an answer about the object.
    """
    return error.http_status == 404 and error.code == "resource_missing"
