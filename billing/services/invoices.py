"""Cancelling a pending invoice (capture and refund have modules of their own)."""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    ItemStatus,
    Subscription,
    TokenBundlePurchase,
)
from billing.selectors import invoice_get
from common.errors import InvalidState


@transaction.atomic
def invoice_cancel(*, invoice_id: UUID, user_id: UUID | None = None) -> Invoice:
    """Cancels a pending invoice and everything on it.

    With `user_id`, another user's invoice is NotFound. Raises InvalidState unless pending;
    the invoice row lock orders this against a capture racing it, so exactly one wins.
    """
    invoice = invoice_get(invoice_id=invoice_id, user_id=user_id, for_update=True)
    if invoice.status != Invoice.Status.PENDING:
        raise InvalidState(
            f"Only a pending invoice can be cancelled; this one is {invoice.status}."
        )
    invoice.status = Invoice.Status.CANCELLED
    invoice.cancelled_at = timezone.now()
    invoice.save(update_fields=["status", "cancelled_at", "updated_at"])
    pending = {"invoice": invoice, "status": ItemStatus.PENDING}
    Subscription.objects.filter(**pending).update(status=ItemStatus.CANCELLED)
    AddOnSubscription.objects.filter(**pending).update(status=ItemStatus.CANCELLED)
    TokenBundlePurchase.objects.filter(
        invoice=invoice, status=TokenBundlePurchase.Status.PENDING
    ).update(status=TokenBundlePurchase.Status.CANCELLED)
    return invoice
