"""Billing's models, by subject; import them from here."""

from billing.models.events import PaymentEvent
from billing.models.invoices import MONEY, Invoice, InvoiceLineItem, InvoiceSequence, minor_units
from billing.models.items import (
    AddOnSubscription,
    ItemStatus,
    Subscription,
    TokenBundlePurchase,
)

__all__ = [
    "MONEY",
    "AddOnSubscription",
    "Invoice",
    "InvoiceLineItem",
    "InvoiceSequence",
    "ItemStatus",
    "PaymentEvent",
    "Subscription",
    "TokenBundlePurchase",
    "minor_units",
]
