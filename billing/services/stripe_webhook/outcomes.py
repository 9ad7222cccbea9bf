"""What handling a Stripe event came to, and its record on the event's row."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, PaymentEvent
from common.db import require_transaction

Outcome = PaymentEvent.Outcome
PROVIDER = Invoice.Provider.STRIPE


@dataclass(frozen=True)
class Handled:
    outcome: str
    error: str = ""
    invoice_id: UUID | None = None
    payment_reference: str = ""
    # The staff refund at Stripe this event is the news of (stripe_payment_refund).
    stripe_refund_id: str = ""


def amount_text(found: dict, field: str = "amount") -> str:
    """An amount of a Stripe object (in the currency's smallest unit) as a person reads it in
    a message: `43.00 USD`, not Stripe's `4300`."""
    return stripe_gateway.stripe_amount_text(found.get(field), found.get("currency"))


def event_outcome_record(record: PaymentEvent, handled: Handled) -> None:
    """Records what handling an event came to, on its (locked) row."""
    require_transaction("event_outcome_record")
    record.outcome = handled.outcome
    record.error = handled.error
    record.payment_reference = handled.payment_reference[:255]
    if handled.stripe_refund_id:
        record.stripe_refund_id = handled.stripe_refund_id[:255]
    if handled.invoice_id and Invoice.objects.filter(pk=handled.invoice_id).exists():
        record.invoice_id = handled.invoice_id
    record.processed_at = timezone.now()
    record.save()
