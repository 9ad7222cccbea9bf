"""Billing writes, each in one transaction. Split by subject; import them from here."""

from billing.services.capture import (
    AmountMismatch,
    CaptureResult,
    CurrencyMismatch,
    PaymentReferenceUsed,
    invoice_capture,
)
from billing.services.checkout import CheckoutResult, checkout_create
from billing.services.invoices import invoice_cancel, invoice_subscriptions_activate
from billing.services.numbers import invoice_number_next

__all__ = [
    "AmountMismatch",
    "CaptureResult",
    "CheckoutResult",
    "CurrencyMismatch",
    "PaymentReferenceUsed",
    "checkout_create",
    "invoice_cancel",
    "invoice_capture",
    "invoice_number_next",
    "invoice_subscriptions_activate",
]
