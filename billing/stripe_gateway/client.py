"""The SDK's client as every call here makes it, the errors callers catch, and what Stripe's
answers have in common."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import stripe
from django.conf import settings

from catalog.currencies import stripe_places
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


def stripe_amount_text(amount: object, currency: object) -> str:
    """An amount Stripe gives in the currency's smallest unit as a person reads it, `43.00
    USD` for Stripe's `4300` and `usd`, `500 JPY` for `500` and `jpy`: messages for staff
    said "4300 USD" of a payment of 43.00. Anything but a whole number is shown as sent. A
    currency we cannot price in still reaches us (a dispute of another charge of the account):
    Stripe counts KWD, BHD and the other three-place ones in thousandths, not hundredths."""
    code = str(currency or "").upper()
    if not isinstance(amount, int) or isinstance(amount, bool):
        return f"{amount} {code}".strip()
    places = stripe_places(code)
    return f"{Decimal(amount).scaleb(-places):.{places}f} {code}".strip()


def resource_missing(error: stripe.InvalidRequestError) -> bool:
    """Stripe has no object at that address: one made with the other mode's keys (test or
    live) or in another account. A 404 without `resource_missing` (an address Stripe does
    not serve) is a fault of ours or of something in between, not an answer about the object.
    """
    return error.http_status == 404 and error.code == "resource_missing"
