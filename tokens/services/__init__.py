"""Tokens' writes. Split by subject; import them from here."""

from tokens.ledger import InsufficientTokens
from tokens.services.ledger import (
    AdjustmentBelowZero,
    LedgerKeyReused,
    UsageAlreadyRefunded,
    tokens_adjust,
    tokens_credit,
    tokens_debit,
    tokens_give_back,
    usage_refund,
)
from tokens.services.lots import (
    Sweep,
    included_grant,
    lot_grant,
    lot_void,
    lots_expire,
    trial_grant,
)
from tokens.services.purchases import purchases_credit, purchases_reverse

__all__ = [
    "AdjustmentBelowZero",
    "InsufficientTokens",
    "LedgerKeyReused",
    "Sweep",
    "UsageAlreadyRefunded",
    "included_grant",
    "lot_grant",
    "lot_void",
    "lots_expire",
    "purchases_credit",
    "purchases_reverse",
    "tokens_adjust",
    "tokens_credit",
    "tokens_debit",
    "tokens_give_back",
    "trial_grant",
    "usage_refund",
]
