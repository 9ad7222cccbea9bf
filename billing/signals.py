"""The fan-out of a payment and of a refund: `invoice_paid` and `invoice_refunded` are sent
inside the capture's or the refund's transaction, so each app does its part of the invoice
or, by raising, rolls the whole of it back.

Receivers are idempotent (they act on what is still pending or completed, under row locks)
and return a dict of counts that the sender adds up for its answer.
"""

from __future__ import annotations

from django.dispatch import Signal

from billing import services

# Sent with `invoice` (locked, just marked paid) by billing.services.capture.invoice_capture.
invoice_paid = Signal()

# Sent with `invoice` (locked, just marked refunded) by billing.services.refunds.invoice_refund.
invoice_refunded = Signal()


def activate_paid_items(sender, invoice, **kwargs) -> dict[str, int]:
    """Billing's part of a capture: the subscription and add-on subscriptions."""
    return services.invoice_subscriptions_activate(invoice=invoice)


def cancel_refunded_items(sender, invoice, **kwargs) -> dict[str, int]:
    """Billing's part of a refund: the subscription and add-on subscriptions end."""
    return services.invoice_subscriptions_cancel(invoice=invoice)
