"""Paying an invoice with Stripe Checkout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, Subscription
from billing.selectors import (
    add_ons_plan_end,
    add_ons_without_their_plan,
    invoice_with_items,
    subscription_active,
)
from common.errors import InvalidState

logger = logging.getLogger(__name__)

# A stored session this close to expiring is not handed out again: a new one is made.
SESSION_REUSE_MARGIN = timedelta(minutes=10)
# Stripe takes a session's end from 30 minutes to 24 hours after it is made; a minute's
# slack for the clocks and the request's way.
SESSION_SHORTEST = timedelta(minutes=31)
SESSION_LONGEST = timedelta(hours=23, minutes=59)


class SessionTookPayment(InvalidState):
    """Stripe has taken a payment through the session, or one is on its way: `session` is
    what Stripe says of it now."""

    def __init__(self, message: str, session: stripe_gateway.CheckoutSession) -> None:
        super().__init__(message)
        self.session = session


@dataclass(frozen=True)
class PaymentStart:
    provider: str
    checkout_url: str
    session_id: str | None = None


def invoice_pay_with_stripe(*, invoice_id: UUID, user_id: UUID) -> PaymentStart:
    """A Stripe Checkout Session for the user's pending invoice.

    Runs outside any transaction: the Stripe call must not hold locks. A live session is
    handed out again; a new one is created with an idempotency key derived from the session
    it replaces, so a retried request (or two at once) gets the same session from Stripe.
    The session is stored by a conditional UPDATE that also re-checks the invoice is pending;
    a session it refuses (the invoice was cancelled or paid meanwhile) is expired at Stripe.
    Raises NotFound (also for another user's invoice), InvalidState unless pending or when
    its add-ons' plan has ended (nothing asked of Stripe), PaymentProviderError.
    """
    invoice = invoice_with_items(invoice_id=invoice_id, user_id=user_id)
    invoice_require_pending(invoice)
    invoice_require_plan_running(invoice)
    expires = invoice.stripe_session_expires_at
    if invoice.stripe_session_id and expires and expires > timezone.now() + SESSION_REUSE_MARGIN:
        return PaymentStart("stripe", invoice.stripe_session_url, invoice.stripe_session_id)

    stripe_session_end(invoice)
    ends = _session_end(invoice)
    key = f"checkout-session:{invoice.pk}:{invoice.stripe_session_id or 'first'}"
    session = stripe_gateway.checkout_session_create(
        invoice=invoice,
        line_items=list(invoice.line_items.all()),
        customer_email=invoice.user.email,
        # Stripe refuses a key reused with other parameters: the end is part of it.
        idempotency_key=f"{key}:until-{int(ends.timestamp())}" if ends else key,
        expires_at=ends,
    )
    stored = Invoice.objects.filter(
        pk=invoice.pk,
        status=Invoice.Status.PENDING,
        stripe_session_id=invoice.stripe_session_id,
    ).update(
        stripe_session_id=session.id,
        stripe_session_url=session.url,
        stripe_session_created_at=session.created_at or timezone.now(),
        stripe_session_expires_at=session.expires_at,
        updated_at=timezone.now(),
    )
    if not stored:
        current = Invoice.objects.get(pk=invoice.pk)
        if current.stripe_session_id != session.id:
            _session_unstored_end(session, current)
        invoice_require_pending(current)
        return PaymentStart("stripe", current.stripe_session_url, current.stripe_session_id)
    return PaymentStart("stripe", session.url, session.id)


def _session_unstored_end(session: stripe_gateway.CheckoutSession, invoice: Invoice) -> None:
    """Expires a session just made for the invoice that was not stored on it: the invoice was
    cancelled or paid meanwhile (or another request stored a session of its own). Nothing
    records that session, so no cancel, sweep or reconciliation would end it: it stayed open
    at Stripe, for up to 24 hours, for an invoice that no longer waits for it. Its URL is
    handed to nobody, but a payment through it would take money that nothing credits. Not
    raised: the caller answers for the invoice as it is now. A session Stripe says took a
    payment (or one on its way) is left to its webhook, which flags it needs_review through
    the invoice its metadata names (reconcile_purchases knows only stored sessions); one
    Stripe cannot be asked about is logged for the same reason."""
    try:
        _session_expire(session.id, invoice.number)
    except SessionTookPayment as took:
        logger.error(
            "The Stripe session %s, made for %s invoice %s but not stored on it, has taken a "
            "payment or one is on its way (%s); its webhook flags it for review.",
            session.id,
            invoice.status,
            invoice.number,
            took.session.payment_intent,
        )
    except stripe_gateway.PaymentProviderError as error:
        logger.error(
            "The Stripe session %s, made for %s invoice %s but not stored on it, was not "
            "expired (%s); a payment through it is flagged for review by its webhook.",
            session.id,
            invoice.status,
            invoice.number,
            error,
        )


def _session_end(invoice: Invoice) -> datetime | None:
    """The session of add-ons bought without a plan ends when their plan does (or the last
    plan of the user's that runs past it, which they move to then): the
    customer's Stripe tab then takes no payment that the capture refuses (a plan that has
    ended), in the hour before the sweep cancels the checkout and expires its session. A
    plan ending more than 24 hours on leaves Stripe's own end (the sweep's expiry ends the
    session later), and one ending sooner than Stripe's shortest session (30 minutes) too:
    paid in that gap, the payment is refused and flagged for review, as before."""
    end = add_ons_plan_end(invoice.pk, invoice.user_id)
    now = timezone.now()
    if end is None or not now + SESSION_SHORTEST <= end <= now + SESSION_LONGEST:
        return None
    return end


def stripe_session_end(invoice: Invoice) -> None:
    """Expires the invoice's Stripe Checkout Session before the invoice stops waiting for it
    (cancelled, or another session replaces it): one invoice, one way to pay it. Stripe is
    asked even past the session's end, which may have taken a payment before it. Outside
    any transaction (an HTTP call).

    A session Stripe does not know (made with the other mode's keys, test or live, before
    they were switched) counts as ended: it cannot be expired through these keys, and
    refusing would leave the invoice pending for ever. Should it still take a payment in
    the other mode, that payment's webhook is flagged needs_review (a cancelled invoice).

    A session that completed with a bank debit whose payment failed has ended too: it can
    take no payment any more, though Stripe keeps it complete.

    Raises SessionTookPayment (an InvalidState) when Stripe has taken a payment on the
    session (its webhook captures the invoice) or one is on its way, PaymentProviderError
    when Stripe cannot be asked.
    """
    if invoice.stripe_session_id:
        _session_expire(invoice.stripe_session_id, invoice.number)


def _session_expire(session_id: str, number: str) -> None:
    """Expires the session of invoice `number`; raises what stripe_session_end raises."""
    try:
        session = stripe_gateway.checkout_session_expire(session_id=session_id)
    except stripe_gateway.PaymentUnknownToStripe:
        return
    if session.status == "complete" and not session_payment_failed(session):
        raise SessionTookPayment(
            f"Stripe has taken a payment for invoice {number}; it is credited once "
            "Stripe confirms it.",
            session,
        )


def session_payment_failed(session: stripe_gateway.CheckoutSession) -> bool:
    """Whether a complete session's payment failed: a bank debit (completed unpaid, the
    money on its way) whose PaymentIntent asks for another payment method or was cancelled.
    A session that names no PaymentIntent is taken as on its way. Asks Stripe; raises
    PaymentProviderError when it cannot be asked."""
    if session.payment_status == "paid" or not session.payment_intent:
        return False
    payment = stripe_gateway.payment_retrieve(payment_reference=session.payment_intent)
    return payment.status in ("requires_payment_method", "canceled")


def invoice_require_pending(invoice: Invoice) -> None:
    """Raises InvalidState unless the invoice can still be paid."""
    if invoice.status != Invoice.Status.PENDING:
        raise InvalidState(
            f"Invoice {invoice.number} is {invoice.status}; only a pending one is paid."
        )


def invoice_require_plan_running(invoice: Invoice) -> None:
    """Raises InvalidState when add-ons on the invoice bought without a plan rely on a plan
    that has ended (add_ons_without_their_plan) and the user has no other plan running (a
    renewal, which the capture then makes them rely on): paying now takes money the
    capture refuses."""
    if add_ons_without_their_plan(invoice.pk).exists():
        plan_ended_require_another(invoice, subscription_active(user_id=invoice.user_id))


def plan_ended_require_another(invoice: Invoice, running: Subscription | None) -> None:
    """Raises InvalidState when the plan the invoice's add-ons relied on has ended and no
    other plan of the user's runs (`running`)."""
    if running is None:
        raise InvalidState(
            f"The plan the add-ons of invoice {invoice.number} rely on has ended; it cannot be "
            "paid."
        )
