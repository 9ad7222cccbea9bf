"""Checkout Sessions: made for an invoice, asked after, ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings

from billing.models import Invoice, InvoiceLineItem, minor_units
from billing.stripe_gateway.client import (
    PaymentProviderError,
    PaymentUnknownToStripe,
    resource_missing,
    stripe_client,
    stripe_time,
)


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
        created_at=stripe_time(found.get("created")),
        expires_at=stripe_time(found.get("expires_at")),
    )


def checkout_session_create(
    *,
    invoice: Invoice,
    line_items: Sequence[InvoiceLineItem],
    customer_email: str,
    idempotency_key: str,
    expires_at: datetime | None = None,
) -> CheckoutSession:
    """A Checkout Session for the invoice's line items, in the currency's smallest unit.

    The idempotency key makes a retry return the same session instead of a second one.
    `expires_at` ends the session sooner than Stripe's 24 h (Stripe takes 30 minutes to 24
    hours from now; the caller keeps to that).
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
    if expires_at is not None:
        params["expires_at"] = int(expires_at.timestamp())
    email = _ascii_email(customer_email)
    if email is not None:
        params["customer_email"] = email
    try:
        created = stripe_client().v1.checkout.sessions.create(
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


def checkout_session_retrieve(*, session_id: str) -> CheckoutSession:
    """Raises PaymentUnknownToStripe when Stripe has no such session, PaymentProviderError
    when it cannot be asked."""
    try:
        return _session(stripe_client().v1.checkout.sessions.retrieve(session_id))
    except stripe.InvalidRequestError as error:
        if resource_missing(error):
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
    client = stripe_client()
    try:
        return _session(client.v1.checkout.sessions.expire(session_id))
    except stripe.InvalidRequestError as error:
        if resource_missing(error):
            raise PaymentUnknownToStripe("Stripe does not know this Checkout Session.") from error
        # Only an open session can be expired: what it is now says why.
    except stripe.StripeError as error:
        raise PaymentProviderError() from error
    return checkout_session_retrieve(session_id=session_id)
