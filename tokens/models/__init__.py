"""Token accounts, the append-only ledger, and the lots its credits arrive in."""

from tokens.models.audit import LedgerCheckRun
from tokens.models.ledger import (
    AppendOnlyError,
    TokenAccount,
    TokenTransaction,
    TokenTransactionQuerySet,
)
from tokens.models.lots import CATEGORY_ORDER, LotCategory, TokenAllocation, TokenLot
from tokens.models.usage import MAX_USAGE, Hold, UnlimitedCoverage, UsageRecord, UsageSource

__all__ = [
    "CATEGORY_ORDER",
    "MAX_USAGE",
    "AppendOnlyError",
    "Hold",
    "LedgerCheckRun",
    "LotCategory",
    "TokenAccount",
    "TokenAllocation",
    "TokenLot",
    "TokenTransaction",
    "TokenTransactionQuerySet",
    "UnlimitedCoverage",
    "UsageRecord",
    "UsageSource",
]
