"""Tokens' writes. Split by subject; import them from here."""

from tokens.ledger import InsufficientTokens
from tokens.services.alerts import alerts_get, alerts_set
from tokens.services.audit import ledger_check_record
from tokens.services.captures import Capture, hold_capture
from tokens.services.expiry import Sweep, lots_expire, lots_warn_expiring
from tokens.services.holds import (
    ExceedsHold,
    HoldExpired,
    HoldNotActive,
    HoldNotYours,
    Reservation,
    hold_create,
    hold_release,
    holds_expire,
)
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
from tokens.services.lots import LotVoided, included_grant, lot_grant, lot_void, trial_grant
from tokens.services.purchases import purchases_credit, purchases_reverse
from tokens.services.sweeps import SweepIncomplete
from tokens.services.usage import (
    coverage_end,
    coverage_move,
    coverage_start,
    usage_get,
    usage_record,
    usage_record_refund,
)

__all__ = [
    "AdjustmentBelowZero",
    "Capture",
    "ExceedsHold",
    "HoldExpired",
    "HoldNotActive",
    "HoldNotYours",
    "InsufficientTokens",
    "LedgerKeyReused",
    "LotVoided",
    "Reservation",
    "Sweep",
    "SweepIncomplete",
    "UsageAlreadyRefunded",
    "alerts_get",
    "alerts_set",
    "coverage_end",
    "coverage_move",
    "coverage_start",
    "hold_capture",
    "hold_create",
    "hold_release",
    "holds_expire",
    "included_grant",
    "ledger_check_record",
    "lot_grant",
    "lot_void",
    "lots_expire",
    "lots_warn_expiring",
    "purchases_credit",
    "purchases_reverse",
    "tokens_adjust",
    "tokens_credit",
    "tokens_debit",
    "tokens_give_back",
    "trial_grant",
    "usage_get",
    "usage_record",
    "usage_record_refund",
    "usage_refund",
]
