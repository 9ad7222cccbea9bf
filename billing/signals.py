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


SUBSCRIPTION_REFERENCE_TYPE = "subscription"


@dataclass(frozen=True)
class PurchasedTokens:
    """One token purchase of a paid invoice: credit `tokens` under this reference, once; they
    expire at `expires_at` (None: never)."""

    purchase_id: UUID
    tokens: int
    reference_type: str
    reference_id: str
    description: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IncludedTokens:
    """A plan's tokens for the period just paid, expiring when the period ends."""

    subscription_id: UUID
    tokens: int
    reference_type: str
    reference_id: str
    description: str
    expires_at: datetime | None


@dataclass(frozen=True)
class UnlimitedUsage:
    """A paid period of a plan whose usage is unlimited: usage is covered from `starts_at`
    until `ends_at` (exclusive), unless the subscription's invoice is refunded."""

    subscription_id: UUID
    starts_at: datetime
    ends_at: datetime | None


@dataclass(frozen=True)
class InvoicePaid:
    invoice_id: UUID
    user_id: UUID
    number: str
    paid_at: datetime
    purchases: tuple[PurchasedTokens, ...]
    included: tuple[IncludedTokens, ...] = ()
    unlimited: tuple[UnlimitedUsage, ...] = ()


@dataclass
class RefundedTokens:
    """Tokens a refunded invoice gave (a purchase, or a plan's included tokens): take back what
    is left of them.

    The receiver that takes tokens back says how many with `record_taken_back`, and how many
    staff had voided before (neither taken back now nor spent); billing keeps that on the
    purchase (taken back, and what was spent or expired as unrecovered). It is a report on
    one purchase, checked here, not a value for the sender to add up.
    """

    item_id: UUID
    tokens: int
    reference_type: str
    reference_id: str
    description: str
    taken_back: int | None = None
    voided: int = 0

    def record_taken_back(self, tokens: int, *, voided: int = 0) -> None:
        if self.taken_back is not None:
            raise RuntimeError(f"{self.reference_id}: tokens taken back twice.")
        if min(tokens, voided) < 0 or tokens + voided > self.tokens:
            raise ValueError(
                f"{self.reference_id}: {tokens} and {voided} voided of {self.tokens} tokens."
            )
        self.taken_back = tokens
        self.voided = voided


@dataclass(frozen=True)
class PeriodMoved:
    """A paid period of a plan that was to follow the refunded one now starts at `starts_at`
    and ends at `ends_at` (earlier than announced by `invoice_paid`): its unlimited usage,
    if any, is covered over these dates instead."""

    subscription_id: UUID
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class InvoiceRefunded:
    invoice_id: UUID
    user_id: UUID
    number: str
    refunded_at: datetime
    purchases: tuple[RefundedTokens, ...]
    included: tuple[RefundedTokens, ...] = ()
    unlimited_ended: tuple[UUID, ...] = ()
    moved: tuple[PeriodMoved, ...] = ()
