"""Billing writes, each in one transaction. Split by subject; import them from here."""

from billing.services.capture import (
    AmountMismatch,
    CaptureResult,
    CurrencyMismatch,
    PaymentReferenceUsed,
    invoice_capture,
    invoice_mark_paid,
)
from billing.services.checkout import CheckoutResult, checkout_create
from billing.services.fulfilment import Delivery, TakeBack, invoice_deliver, invoice_take_back
from billing.services.invoices import invoice_cancel
from billing.services.numbers import invoice_number_next
from billing.services.payments import PaymentStart, invoice_pay_with_stripe
from billing.services.providers import invoice_pay_start, payment_provider_default
from billing.services.refunds import (
    InvoiceAlreadyRefunded,
    RefundResult,
    invoice_refund,
    invoice_refund_with_provider,
)

__all__ = [
    "AmountMismatch",
    "CaptureResult",
    "CheckoutResult",
    "CurrencyMismatch",
    "Delivery",
    "InvoiceAlreadyRefunded",
    "PaymentReferenceUsed",
    "PaymentStart",
    "RefundResult",
    "TakeBack",
    "checkout_create",
    "invoice_cancel",
    "invoice_capture",
    "invoice_deliver",
    "invoice_mark_paid",
    "invoice_number_next",
    "invoice_pay_start",
    "invoice_pay_with_stripe",
    "invoice_refund",
    "invoice_refund_with_provider",
    "invoice_take_back",
    "payment_provider_default",
]
