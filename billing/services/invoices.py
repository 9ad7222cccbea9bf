"""Cancelling a pending invoice, and those of add-ons whose plan a refund ended (capture and
refund have modules of their own)."""

from __future__ import annotations

import logging
from functools import partial
from uuid import UUID

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    ItemStatus,
    Subscription,
    TokenBundlePurchase,
)
from billing.selectors import invoice_get
from billing.services.payments import stripe_session_end
from billing.stripe_gateway import PaymentProviderError
from common.db import require_transaction
from common.errors import InvalidState

logger = logging.getLogger(__name__)


def invoice_cancel(*, invoice_id: UUID, user_id: UUID | None = None) -> Invoice:
    """Cancels a pending invoice and everything on it.

    A Stripe Checkout Session still open for it is expired first, outside any transaction:
    the customer's Stripe tab would otherwise still take the money of an invoice that no
    longer credits it. With `user_id`, another user's invoice is NotFound. Raises
    InvalidState unless pending, when Stripe has taken a payment for it (its webhook
    captures the invoice) or when a new payment was started meanwhile; PaymentProviderError
    when Stripe cannot be asked. Nothing changes then.
    """
    invoice = invoice_get(invoice_id=invoice_id, user_id=user_id)
    if invoice.status == Invoice.Status.PENDING:
        stripe_session_end(invoice)
    return _cancel(invoice_id, user_id, stripe_session_id=invoice.stripe_session_id)


@transaction.atomic
def _cancel(invoice_id: UUID, user_id: UUID | None, *, stripe_session_id: str) -> Invoice:
    """The invoice row lock orders this against a capture racing it, so exactly one wins."""
    invoice = invoice_get(invoice_id=invoice_id, user_id=user_id, for_update=True)
    if invoice.status != Invoice.Status.PENDING:
        raise InvalidState(
            f"Only a pending invoice can be cancelled; this one is {invoice.status}."
        )
    if invoice.stripe_session_id != stripe_session_id:
        raise InvalidState(
            "A payment was started for this invoice meanwhile; cancel it again to end it too."
        )
    _cancelled(invoice)
    return invoice


def add_on_checkouts_cancel(*, plan_invoice_id: UUID) -> int:
    """Cancels the pending invoices whose add-ons rely on a subscription this invoice bought
    (a checkout of add-ons without a plan), inside the caller's transaction: a refund ending
    the plan they need. The subscriptions are locked first (a checkout relying on one holds
    it FOR SHARE until it commits, and is found), then their invoices in id order, after the
    caller's own and before the refund takes tokens back: a capture of one locks it and
    then the token account, so it goes first or finds it cancelled. A Stripe Checkout
    Session still open for one is expired once the refund commits (an HTTP call, never
    inside the transaction), so that the customer's Stripe tab no longer takes money for
    it. Returns how many were cancelled."""
    require_transaction("add_on_checkouts_cancel")
    list(
        Subscription.objects.select_for_update(no_key=True)
        .filter(invoice_id=plan_invoice_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return _relying_cancel(Q(subscription__invoice_id=plan_invoice_id))


def add_on_checkouts_of_expired_cancel(*, subscription_id: UUID) -> int:
    """Cancels the pending invoices whose add-ons rely on this subscription, which the expiry
    has just ended (and locked, by its UPDATE), inside the caller's transaction: as for a
    refunded plan, the add-ons they would buy have no plan any more. Returns how many."""
    require_transaction("add_on_checkouts_of_expired_cancel")
    return _relying_cancel(Q(subscription_id=subscription_id))


def _relying_cancel(parent: Q) -> int:
    relying = AddOnSubscription.objects.filter(parent, status=ItemStatus.PENDING)
    invoices = list(
        Invoice.objects.select_for_update()
        .filter(pk__in=relying.values("invoice_id"), status=Invoice.Status.PENDING)
        .order_by("pk")
    )
    for invoice in invoices:
        _cancelled(invoice)
        if invoice.stripe_session_id:
            transaction.on_commit(partial(_session_end_after_cancel, invoice))
    return len(invoices)


def _session_end_after_cancel(invoice: Invoice) -> None:
    """The session of an invoice cancelled already. When it cannot be expired, the payment
    it may take is one for a cancelled invoice (its webhook is flagged `needs_review`), and
    the log says so for the operator."""
    try:
        stripe_session_end(invoice)
    except (InvalidState, PaymentProviderError) as error:
        logger.error(
            "The Stripe session %s of cancelled invoice %s was not expired (%s); a payment "
            "through it needs review.",
            invoice.stripe_session_id,
            invoice.number,
            error,
        )


def _cancelled(invoice: Invoice) -> None:
    """Marks a pending (and locked) invoice cancelled, and everything on it."""
    invoice.status = Invoice.Status.CANCELLED
    invoice.cancelled_at = timezone.now()
    invoice.save(update_fields=["status", "cancelled_at", "updated_at"])
    pending = {"invoice": invoice, "status": ItemStatus.PENDING}
    Subscription.objects.filter(**pending).update(status=ItemStatus.CANCELLED)
    AddOnSubscription.objects.filter(**pending).update(status=ItemStatus.CANCELLED)
    TokenBundlePurchase.objects.filter(
        invoice=invoice, status=TokenBundlePurchase.Status.PENDING
    ).update(status=TokenBundlePurchase.Status.CANCELLED)
