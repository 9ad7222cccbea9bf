"""Token accounts, the append-only ledger, and the lots its credits arrive in."""

from tokens.models.ledger import (
    AppendOnlyError,
    TokenAccount,
    TokenTransaction,
    TokenTransactionQuerySet,
)
from tokens.models.lots import CATEGORY_ORDER, LotCategory, TokenAllocation, TokenLot

__all__ = [
    "CATEGORY_ORDER",
    "AppendOnlyError",
    "LotCategory",
    "TokenAccount",
    "TokenAllocation",
    "TokenLot",
    "TokenTransaction",
    "TokenTransactionQuerySet",
]
