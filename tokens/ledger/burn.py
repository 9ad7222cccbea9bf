"""The burn order in Python, for SQLite: PostgreSQL's `tokens_debit` orders the lots itself,
in the same order (docs/api.md, "Lots")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from tokens.ledger.core import LotChange
from tokens.models import CATEGORY_ORDER, TokenLot

CATEGORY_RANK = {category: rank for rank, category in enumerate(CATEGORY_ORDER)}
NEVER = datetime.max.replace(tzinfo=UTC)


def burn_key(lot: TokenLot) -> tuple:
    """The burn order: priority, soonest expiry (never last), category, oldest, id. Lots
    that never expire tie on expiry, so their category decides before their age (as in
    PostgreSQL's `tokens_debit`, where NULL expiries sort last and equal)."""
    return (
        lot.priority,
        lot.expires_at is None,
        lot.expires_at or NEVER,
        CATEGORY_RANK[lot.category],
        lot.created_at,
        lot.id,
    )


def burn_plan(lots: Iterable[TokenLot], amount: int, *, now: datetime) -> list[LotChange]:
    """Which lots pay `amount`, in the burn order; expired and empty lots never do.

    Raises ValueError when they hold less than `amount` (the caller checked availability).
    """
    changes, left = [], amount
    live = (lot for lot in lots if lot.remaining > 0 and not lot.is_expired(now))
    for lot in sorted(live, key=burn_key):
        if left == 0:
            break
        taken = min(lot.remaining, left)
        changes.append(LotChange(lot_id=lot.pk, amount=-taken))
        left -= taken
    if left:
        raise ValueError(f"The lots are {left} tokens short of {amount}.")
    return changes
