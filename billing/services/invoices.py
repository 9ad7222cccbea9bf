"""Invoice state changes other than capture: cancel, and activating what a payment bought."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Case, DateTimeField, Value, When
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    ItemStatus,
    Subscription,
    TokenBundlePurchase,
)
from billing.selectors import invoice_get
from catalog.models import BillingPeriod
from common.errors import InvalidState

PERIODS = {
    BillingPeriod.MONTHLY: relativedelta(months=1),
    BillingPeriod.YEARLY: relativedelta(years=1),
}


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


def invoice_subscriptions_activate(*, invoice: Invoice) -> dict[str, int]:
    """Activates the invoice's pending subscription and add-ons from the payment's time.

    A month is a calendar month (31 January + 1 month = 28/29 February), a year a calendar
    year; one-time add-ons do not expire. Acts only on what is still pending, so running it
    again changes nothing. Two UPDATEs, however many items.
    """
    started = invoice.paid_at
    activated = {"status": ItemStatus.ACTIVE, "starts_at": started, "expires_at": _expiry(started)}
    pending = {"invoice": invoice, "status": ItemStatus.PENDING}
    subscriptions = Subscription.objects.filter(**pending).update(**activated)
    add_ons = AddOnSubscription.objects.filter(**pending).update(**activated)
    return {"subscription_activated": subscriptions, "addons_activated": add_ons}


def _expiry(started: datetime) -> Case:
    return Case(
        *[
            When(billing_period=period, then=Value(started + length))
            for period, length in PERIODS.items()
        ],
        default=Value(None),
        output_field=DateTimeField(),
    )


def invoice_subscriptions_cancel(*, invoice: Invoice) -> dict[str, int]:
    """Ends the invoice's subscription and add-ons (a refund). Running it again changes nothing."""
    live = {"invoice": invoice, "status__in": [ItemStatus.PENDING, ItemStatus.ACTIVE]}
    subscriptions = Subscription.objects.filter(**live).update(status=ItemStatus.CANCELLED)
    add_ons = AddOnSubscription.objects.filter(**live).update(status=ItemStatus.CANCELLED)
    return {"subscriptions_cancelled": subscriptions, "addons_cancelled": add_ons}
