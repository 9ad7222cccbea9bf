"""The fan-out of a payment: `invoice_paid` is sent inside the capture's transaction, so each
app activates its part of the invoice or, by raising, rolls the whole capture back.

Receivers are idempotent (they act on what is still pending, under row locks) and return a
dict of counts that the capture adds up for its answer.
"""

from __future__ import annotations

from django.dispatch import Signal

from billing import services

# Sent with `invoice` (locked, just marked paid) by billing.services.capture.invoice_capture.
invoice_paid = Signal()


def activate_paid_items(sender, invoice, **kwargs) -> dict[str, int]:
    """Billing's part: the subscription and add-on subscriptions of the invoice."""
    return services.invoice_subscriptions_activate(invoice=invoice)
