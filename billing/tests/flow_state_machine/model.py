"""The plain in-memory model the whole-flow state machine checks the database against, and
the bundles its rules draw from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from hypothesis.stateful import (
    Bundle,
)

START = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
CATEGORY_RANK = {"trial": 0, "promotional": 1, "included": 2, "paid": 3}
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class Lot:
    id: UUID
    category: str
    priority: int
    expires_at: datetime | None
    created_at: datetime
    remaining: int
    closed: bool = False  # taken back by its invoice's refund: nothing lands in it again

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def burn_key(self) -> tuple:
        """The contract's burn order: priority, soonest expiry (never last), category,
        oldest, then id."""
        return (
            self.priority,
            self.expires_at or NEVER,
            CATEGORY_RANK[self.category],
            self.created_at,
            self.id,
        )


@dataclass
class Order:
    """An invoice, and what Stripe knows of it."""

    id: UUID
    total: Decimal
    purchases: list[tuple[UUID, int, int | None]]
    created_at: datetime
    status: str = "pending"
    paid_by: str = ""
    paid_at: datetime | None = None
    lots: list[Lot] = field(default_factory=list)
    session: str = ""
    session_created_at: datetime | None = None
    paid_at_stripe: bool = False
    session_ended: bool = False  # expired at Stripe by a cancel: it takes no payment
    # Paid through another provider, its session since asked about by reconcile_purchases
    # (expired, or its payment flagged for review): no run asks again.
    session_asked: bool = False
    refunded_at_stripe: bool = False
    held_refunds: list[str] = field(default_factory=list)


@dataclass
class Usage:
    """A consume's debit; `id` is empty for a refused consume, which debited nothing."""

    id: str
    taken: list[tuple[Lot, int]]
    refunded: bool = False


@dataclass
class Consume:
    key: str
    amount: int
    status: int
    at: datetime
    entry_id: str = ""
    usage: Usage | None = None


orders = Bundle("orders")
# Every consume and retry adds exactly one usage, refused or not. Whether a consume is
# refused can differ between runs of the same steps: two lots alike in everything but
# their random ids burn in id order, so a refund gives back one or the other, and the
# balance that follows differs. Bundles that grew by that would have hypothesis see the
# same choices draw differently (FlakyStrategyDefinition, "while selecting a rule").
usages = Bundle("usages")
stripe_events = Bundle("stripe_events")
