"""What billing announces: an invoice was paid, an invoice was refunded.

Both are sent inside the capture's or the refund's transaction, after billing has done its
own part (the invoice, its subscription, add-ons and purchases). Each receiver does its app's
part from the plain data the signal carries, without reading billing's tables, or raises, and
the whole capture or refund rolls back. The sender never adds up what receivers return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.dispatch import Signal

# Sent with `paid=InvoicePaid(...)` by billing.services.capture.invoice_capture (and by
# reconciliation for a paid invoice whose purchases were never delivered).
invoice_paid = Signal()

# Sent with `refunded=InvoiceRefunded(...)` by billing.services.refunds.invoice_refund.
invoice_refunded = Signal()

PURCHASE_REFERENCE_TYPE = "token_bundle_purchase"


@dataclass(frozen=True)
class PurchasedTokens:
    """One token purchase of a paid invoice: credit `tokens` under this reference, once."""

    purchase_id: UUID
    tokens: int
    reference_type: str
    reference_id: str
    description: str


@dataclass(frozen=True)
class InvoicePaid:
    invoice_id: UUID
    user_id: UUID
    number: str
    paid_at: datetime
    purchases: tuple[PurchasedTokens, ...]


@dataclass
class RefundedTokens:
    """One token purchase of a refunded invoice: take back what the purchase left unspent.

    The receiver that takes tokens back says how many with `record_taken_back`; billing keeps
    that on the purchase (taken back, and the rest as already spent). It is a report on one
    purchase, checked here, not a value for the sender to add up.
    """

    purchase_id: UUID
    tokens: int
    reference_type: str
    reference_id: str
    description: str
    taken_back: int | None = None

    def record_taken_back(self, tokens: int) -> None:
        if self.taken_back is not None:
            raise RuntimeError(f"Purchase {self.purchase_id}: tokens taken back twice.")
        if not 0 <= tokens <= self.tokens:
            raise ValueError(f"Purchase {self.purchase_id}: {tokens} of {self.tokens} tokens.")
        self.taken_back = tokens


@dataclass(frozen=True)
class InvoiceRefunded:
    invoice_id: UUID
    user_id: UUID
    number: str
    refunded_at: datetime
    purchases: tuple[RefundedTokens, ...]
