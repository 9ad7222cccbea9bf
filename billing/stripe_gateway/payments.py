"""A captured payment as Stripe sees it, and its refund."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import stripe

from billing.stripe_gateway.client import (
    PaymentAlreadyRefunded,
    PaymentDisputed,
    PaymentProviderError,
    PaymentUnknownToStripe,
    resource_missing,
    stripe_client,
)

REFUND_REFUSED = "Stripe refused or could not take the refund."


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


def payment_retrieve(*, payment_reference: str) -> StripePayment:
    """What Stripe says of the payment an invoice was captured with: its PaymentIntent
    (`pi_...`), or its Checkout Session (`cs_...`) when the capture had no PaymentIntent.

    Raises PaymentUnknownToStripe when Stripe has no such object, PaymentProviderError when
    it cannot be asked.
    """
    try:
        if payment_reference.startswith("cs_"):
            session = stripe_client().v1.checkout.sessions.retrieve(payment_reference).to_dict()
            return StripePayment(
                id=session["id"],
                paid=session.get("payment_status") == "paid",
                status=session.get("payment_status") or "",
                amount=session.get("amount_total") or 0,
                currency=(session.get("currency") or "").upper(),
            )
        intent = (
            stripe_client()
            .v1.payment_intents.retrieve(payment_reference, params={"expand": ["latest_charge"]})
            .to_dict()
        )
    except stripe.InvalidRequestError as error:
        if resource_missing(error):
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

    Stripe keeps a key's first answer for 24 hours, a server error too: asked again after
    one (staff retrying), it answered that error all day, and the money could not go back
    from here. A server error replayed so is asked once more under a key of its own: a
    refund takes all the payment still holds, so a second never returns more than was paid
    (Stripe answers `charge_already_refunded` when the first did refund after all).

    Raises PaymentAlreadyRefunded when Stripe has refunded all of it already,
    PaymentDisputed when the payment is disputed (the bank has the money),
    PaymentProviderError when it refuses otherwise or cannot be asked.
    """
    try:
        try:
            return _refund(payment_intent, idempotency_key)
        except stripe.APIError as error:
            if not _replayed(error):
                raise
            return _refund(payment_intent, f"{idempotency_key}:after-error-{uuid.uuid4().hex}")
    except stripe.InvalidRequestError as error:
        if error.code == "charge_already_refunded":
            raise PaymentAlreadyRefunded() from error
        if error.code == "charge_disputed":
            raise PaymentDisputed() from error
        raise PaymentProviderError(REFUND_REFUSED) from error
    except stripe.StripeError as error:
        raise PaymentProviderError(REFUND_REFUSED) from error


def _refund(payment_intent: str, idempotency_key: str) -> str:
    refund = stripe_client().v1.refunds.create(
        params={"payment_intent": payment_intent},
        options={"idempotency_key": idempotency_key},
    )
    return refund.to_dict()["id"]


def _replayed(error: stripe.StripeError) -> bool:
    """Whether Stripe answered with what it had saved under the idempotency key."""
    headers = {name.lower(): value for name, value in (error.headers or {}).items()}
    return headers.get("idempotent-replayed") == "true"
