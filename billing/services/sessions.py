"""Stripe Checkout Sessions their invoices no longer wait for, whose expiry Stripe has not
confirmed: the invoice was cancelled, or paid through another provider (the payment
webhook, a test payment, staff). Such a session may still take the customer's money, which
nothing here credits.

Each expiry Stripe confirms sets the invoice's `stripe_session_expires_at` to now; one still
ahead means Stripe could not be asked (unreachable, a 5xx), and `reconcile_purchases`, hourly
on the worker, asks again (sessions_unconfirmed)."""

from __future__ import annotations

import logging

from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.models import Invoice
from billing.services.payments import stripe_session_end
from common.errors import InvalidState

logger = logging.getLogger(__name__)

# A payment through another provider: a Stripe session of the invoice is not the one that
# paid it (the Stripe webhook captures its own session, which has ended with the payment).
PAID_ELSEWHERE = Q(status__in=[Invoice.Status.PAID, Invoice.Status.REFUNDED]) & ~Q(
    provider=Invoice.Provider.STRIPE
)


def sessions_unconfirmed() -> QuerySet[Invoice]:
    """Cancelled invoices, and those paid elsewhere, whose Stripe session may still take a
    payment: Stripe could not be asked to expire it when the invoice stopped waiting for it."""
    return Invoice.objects.filter(
        Q(status=Invoice.Status.CANCELLED) | PAID_ELSEWHERE,
        stripe_session_expires_at__gt=timezone.now(),
    ).exclude(stripe_session_id="")


def session_end_recorded(invoice: Invoice) -> bool:
    """Expires the Stripe session of an invoice cancelled or paid elsewhere, outside any
    transaction (an HTTP call), and records that it can take no payment any more. Returns
    False when Stripe had taken a payment through it already: that payment, for an invoice
    that no longer waits for it, is flagged `needs_review` by its webhook for a person to
    return (the log says so too). Raises PaymentProviderError when Stripe cannot be asked;
    nothing is recorded then."""
    ended = True
    try:
        stripe_session_end(invoice)
    except InvalidState as error:
        ended = False
        logger.error(
            "The Stripe session %s of %s invoice %s has taken a payment (%s); it needs review.",
            invoice.stripe_session_id,
            invoice.status,
            invoice.number,
            error,
        )
    now = timezone.now()
    Invoice.objects.filter(
        pk=invoice.pk,
        stripe_session_id=invoice.stripe_session_id,
        stripe_session_expires_at__gt=now,
    ).update(stripe_session_expires_at=now, updated_at=now)
    return ended
