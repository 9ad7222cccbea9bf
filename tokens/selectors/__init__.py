"""Tokens' reads: balances, the history, lots, the ledger's audit and the sweeps' backlog."""

from tokens.selectors.audit import LedgerMismatch, ledger_check, ledger_check_last_run
from tokens.selectors.balance import Balance, Expiring, token_balance
from tokens.selectors.history import (
    CSV_BATCH_SIZE,
    CSV_COLUMNS,
    HistoryFilters,
    HistoryPage,
    token_history,
    token_history_after,
    token_history_count,
    token_history_page,
    token_history_rows,
)
from tokens.selectors.lots import LOT_STATUSES, entry_of_user, lot_status, lots_of_user
from tokens.selectors.sweeps import Overdue, expiry_overdue
from tokens.selectors.usage import UsageDay, hold_get, holds_of_user, usage_by_day, usage_of_user

__all__ = [
    "CSV_BATCH_SIZE",
    "CSV_COLUMNS",
    "LOT_STATUSES",
    "Balance",
    "Expiring",
    "HistoryFilters",
    "HistoryPage",
    "LedgerMismatch",
    "Overdue",
    "UsageDay",
    "entry_of_user",
    "expiry_overdue",
    "hold_get",
    "holds_of_user",
    "ledger_check",
    "ledger_check_last_run",
    "lot_status",
    "lots_of_user",
    "token_balance",
    "token_history",
    "token_history_after",
    "token_history_count",
    "token_history_page",
    "token_history_rows",
    "usage_by_day",
    "usage_of_user",
]
