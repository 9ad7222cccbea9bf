"""Stripe Checkout Sessions their invoices no longer wait for, whose end Stripe has not
confirmed: the invoice was cancelled, or paid through another provider (the payment
webhook, a test payment, staff). Such a session may still take the customer's money, which
nothing here credits.

Such an invoice keeps its `stripe_session_expires_at` until Stripe confirms the session can
take no payment (expired, unknown to it, its bank debit failed), which sets it to null. One
still set means Stripe could not be asked (unreachable, a 5xx), or it said the session had
taken a payment; `reconcile_purchases`, hourly on the worker, asks again
(sessions_unconfirmed), also once the session's own end has passed, which a payment may have
come before, and flags a payment it finds for a person when Stripe's webhook never told of
it."""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice
from billing.services.payments import SessionTookPayment, stripe_session_end

logger = logging.getLogger(__name__)

# A payment through another provider: a Stripe session of the invoice is not the one that
# paid it (the Stripe webhook captures its own session, which has ended with the payment).
PAID_ELSEWHERE = Q(status__in=[Invoice.Status.PAID, Invoice.Status.REFUNDED]) & ~Q(
    provider=Invoice.Provider.STRIPE
)
# How long after its own end a session is still asked about: a payment taken before that
# end (a bank debit takes days to succeed or fail) and whose webhook was lost is found if
# Stripe answers within it.
ASKED_AFTER_ITS_END = timedelta(days=14)


def sessions_unconfirmed() -> QuerySet[Invoice]:
    """Cancelled invoices, and those paid elsewhere, whose Stripe session may have taken a
    payment: Stripe could not be asked to end it when the invoice stopped waiting for it, or
    said it had taken one (not yet flagged for review, or on its way)."""
    return Invoice.objects.filter(
        Q(status=Invoice.Status.CANCELLED) | PAID_ELSEWHERE,
        stripe_session_expires_at__gt=timezone.now() - ASKED_AFTER_ITS_END,
    ).exclude(stripe_session_id="")


def sessions_unconfirmed_ids() -> list[UUID]:
    """The ids of sessions_unconfirmed, in id order, read in one statement. Not in pages of
    `ORDER BY id LIMIT n`: every pending invoice with a session has its end set too, so
    PostgreSQL, taking a time set and a cancelled (or paid elsewhere) invoice as unrelated,
    expects thousands of rows where there are a few, and for such a page walks the primary
    key through the whole table. Unpaged, it reads the two partial indexes (migrations 0007
    and 0009). The ids are those of the sessions ended in the last ASKED_AFTER_ITS_END, so
    the list stays small (a first run after the look back began, the most: 14 days')."""
    return list(sessions_unconfirmed().order_by("pk").values_list("pk", flat=True))


def session_end_recorded(invoice: Invoice) -> stripe_gateway.CheckoutSession | None:
    """Expires the Stripe session of an invoice cancelled or paid elsewhere, outside any
    transaction (an HTTP call), and records that it can take no payment any more (None).
    Returns the session when Stripe has taken a payment through it, or one is on its way:
    nothing is recorded then, and the invoice stays among sessions_unconfirmed until
    reconcile_purchases has flagged that payment for a person (or its webhook did). Raises
    PaymentProviderError when Stripe cannot be asked; nothing is recorded then."""
    try:
        stripe_session_end(invoice)
    except SessionTookPayment as took:
        paid = took.session.payment_status == "paid"
        logger.log(
            logging.ERROR if paid else logging.INFO,
            "The Stripe session %s of %s invoice %s has %s (%s); %s.",
            invoice.stripe_session_id,
            invoice.status,
            invoice.number,
            "taken a payment" if paid else "a payment on its way",
            took.session.payment_intent,
            "it needs review" if paid else "Stripe is asked again until it settles",
        )
        return took.session
    session_ended_record(invoice)
    return None


def session_ended_record(invoice: Invoice) -> None:
    """Records that the session of an invoice that no longer waits for it can take no
    payment (or that its payment is flagged for a person): no run asks Stripe about it
    again. Only while the invoice still has that session."""
    Invoice.objects.filter(
        pk=invoice.pk,
        stripe_session_id=invoice.stripe_session_id,
        stripe_session_expires_at__isnull=False,
    ).exclude(status=Invoice.Status.PENDING).update(
        stripe_session_expires_at=None, updated_at=timezone.now()
    )
