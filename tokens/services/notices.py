"""What tokens tells the seller's systems (events.services emits them in the change's own
transaction)."""

from __future__ import annotations

from uuid import UUID

from events.services import Notice
from tokens.models import Hold, TokenLot, UsageRecord


def usage_refunded(usage: UsageRecord, *, user_id: UUID) -> Notice:
    return Notice(
        "usage.refunded",
        {
            "user_id": str(user_id),
            "usage_id": str(usage.pk),
            "amount": usage.amount,
            "charged": usage.charged,
            "feature": usage.feature,
        },
    )


def lot_expired(lot: TokenLot, *, user_id: UUID, tokens: int) -> Notice:
    return Notice(
        "lot.expired",
        {
            "user_id": str(user_id),
            "lot_id": str(lot.pk),
            "category": lot.category,
            "expired": tokens,
            "expires_at": lot.expires_at,
        },
    )


def lot_expiring_soon(lot: TokenLot, *, user_id: UUID) -> Notice:
    return Notice(
        "lot.expiring_soon",
        {
            "user_id": str(user_id),
            "lot_id": str(lot.pk),
            "category": lot.category,
            "remaining": lot.remaining,
            "expires_at": lot.expires_at,
        },
    )


def hold_expired(hold: Hold, *, user_id: UUID) -> Notice:
    return Notice(
        "hold.expired",
        {
            "user_id": str(user_id),
            "hold_id": str(hold.pk),
            "amount": hold.amount,
            "captured": hold.captured,
            "expires_at": hold.expires_at,
        },
    )
