"""Stripe, through its official SDK: the only module that talks to Stripe.

Every function here makes a network call, so callers run them outside database
transactions. SDK failures become PaymentProviderError (502 in the API).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings

from billing.models import Invoice, InvoiceLineItem, minor_units
from common.errors import DomainError, Invalid, Rejected

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


class InvalidStripeSignature(Rejected):
    code = "invalid_signature"


@dataclass(frozen=True)
class StripePayment:
    """A payment as Stripe sees it: a PaymentIntent, or the Checkout Session of a payment
    that has none. A refund leaves a PaymentIntent `succeeded`: `refunded` is its charge's
    word that all of it went back, `amount_refunded` how much did (a session tells nothing
    of refunds)."""

    id: str
    paid: bool
    status: str
    amount: int
    currency: str
    refunded: bool = False
    amount_refunded: int = 0


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str
    payment_status: str
    amount_total: int
    currency: str
    payment_intent: str
    client_reference_id: str
    created_at: datetime | None
    expires_at: datetime | None


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentProviderError("Stripe is not configured (STRIPE_SECRET_KEY is not set).")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT_SECONDS),
        max_network_retries=MAX_NETWORK_RETRIES,
    )


def _time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _session(response: Any) -> CheckoutSession:
    found = response.to_dict()
    return CheckoutSession(
        id=found["id"],
        url=found.get("url") or "",
        status=found.get("status") or "",
        payment_status=found.get("payment_status") or "",
        amount_total=found.get("amount_total") or 0,
        currency=(found.get("currency") or "").upper(),
        payment_intent=found.get("payment_intent") or "",
        client_reference_id=found.get("client_reference_id") or "",
        created_at=_time(found.get("created")),
        expires_at=_time(found.get("expires_at")),
    )


def checkout_session_create(
    *,
    invoice: Invoice,
    line_items: Sequence[InvoiceLineItem],
    customer_email: str,
    idempotency_key: str,
) -> CheckoutSession:
    """A Checkout Session for the invoice's line items, in the currency's smallest unit.

    The idempotency key makes a retry return the same session instead of a second one.
    """
    places = invoice.currency.decimal_places
    currency = invoice.currency.code.lower()
    reference = {"invoice_id": str(invoice.pk), "invoice_number": invoice.number}
    params = {
        "mode": "payment",
        "client_reference_id": str(invoice.pk),
        "metadata": reference,
        "payment_intent_data": {"metadata": reference},
        "line_items": [
            {
                "quantity": line.quantity,
                "price_data": {
                    "currency": currency,
                    "unit_amount": minor_units(line.unit_price, places),
                    "product_data": {"name": line.description},
                },
            }
            for line in line_items
        ],
        "success_url": (
            f"{settings.SITE_URL}/purchase/success?invoice={invoice.pk}"
            "&session_id={CHECKOUT_SESSION_ID}"
        ),
        "cancel_url": f"{settings.SITE_URL}/purchase/cancel?invoice={invoice.pk}",
    }
    email = _ascii_email(customer_email)
    if email is not None:
        params["customer_email"] = email
    try:
        created = _client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
    except stripe.StripeError as error:
        raise PaymentProviderError() from error
    return _session(created)


def _ascii_email(email: str) -> str | None:
    """The address as Stripe takes it: a domain in its ASCII (`xn--`) form, the form mail is
    sent to. Stripe refuses an address with other characters, so one whose mailbox name is not
    ASCII is left out (Checkout then asks the customer for an address) rather than making
    every attempt to pay fail."""
    local, _, domain = email.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"{local}@{ascii_domain}" if local.isascii() else None


def _unknown(error: stripe.InvalidRequestError) -> bool:
    """Stripe has no object at that address: one made with the other mode's keys (test or
    live) or in another account. A 404 without `resource_missing` (an address Stripe does
    not serve) is a fault of ours or of something in between, not an answer about the object.
    """
    return error.http_status == 404 and error.code == "resource_missing"


def checkout_session_retrieve(*, session_id: str) -> CheckoutSession:
    """Raises PaymentUnknownToStripe when Stripe has no such session, PaymentProviderError
    when it cannot be asked."""
    try:
        return _session(_client().v1.checkout.sessions.retrieve(session_id))
    except stripe.InvalidRequestError as error:
        if _unknown(error):
            raise PaymentUnknownToStripe("Stripe does not know this Checkout Session.") from error
        raise PaymentProviderError() from error
    except stripe.StripeError as error:
        raise PaymentProviderError() from error


def checkout_session_expire(*, session_id: str) -> CheckoutSession:
    """Ends an open session: it can no longer take a payment. A session no longer open
    (complete, or expired already) is answered as it is now.

    Raises PaymentUnknownToStripe when Stripe has no such session, PaymentProviderError
    when it cannot be asked.
    """
    client = _client()
    try:
        return _session(client.v1.checkout.sessions.expire(session_id))
    except stripe.InvalidRequestError as error:
        if _unknown(error):
            raise PaymentUnknownToStripe("Stripe does not know this Checkout Session.") from error
        # Only an open session can be expired: what it is now says why.
    except stripe.StripeError as error:
        raise PaymentProviderError() from error
    return checkout_session_retrieve(session_id=session_id)


def payment_retrieve(*, payment_reference: str) -> StripePayment:
    """What Stripe says of the payment an invoice was captured with: its PaymentIntent
    (`pi_...`), or its Checkout Session (`cs_...`) when the capture had no PaymentIntent.

    Raises PaymentUnknownToStripe when Stripe has no such object, PaymentProviderError when
    it cannot be asked.
    """
    try:
        if payment_reference.startswith("cs_"):
            session = _client().v1.checkout.sessions.retrieve(payment_reference).to_dict()
            return StripePayment(
                id=session["id"],
                paid=session.get("payment_status") == "paid",
                status=session.get("payment_status") or "",
                amount=session.get("amount_total") or 0,
                currency=(session.get("currency") or "").upper(),
            )
        intent = (
            _client()
            .v1.payment_intents.retrieve(payment_reference, params={"expand": ["latest_charge"]})
            .to_dict()
        )
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            raise PaymentUnknownToStripe() from error
        raise PaymentProviderError() from error
    except stripe.StripeError as error:
        raise PaymentProviderError() from error
    charge = intent.get("latest_charge") if isinstance(intent.get("latest_charge"), dict) else {}
    return StripePayment(
        id=intent["id"],
        paid=intent.get("status") == "succeeded",
        status=intent.get("status") or "",
        amount=intent.get("amount_received") or 0,
        currency=(intent.get("currency") or "").upper(),
        refunded=bool(charge.get("refunded")),
        amount_refunded=charge.get("amount_refunded") or 0,
    )


def refund_create(*, payment_intent: str, idempotency_key: str) -> str:
    """Refunds the whole payment; returns the refund's id.

    Raises PaymentAlreadyRefunded when Stripe has refunded all of it already,
    PaymentProviderError when it refuses otherwise or cannot be asked.
    """
    try:
        refund = _client().v1.refunds.create(
            params={"payment_intent": payment_intent},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.InvalidRequestError as error:
        if error.code == "charge_already_refunded":
            raise PaymentAlreadyRefunded() from error
        raise PaymentProviderError("Stripe refused or could not take the refund.") from error
    except stripe.StripeError as error:
        raise PaymentProviderError("Stripe refused or could not take the refund.") from error
    return refund.to_dict()["id"]


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
