"""The ledger's writes. Every change of a balance appends entries, moves lots and records
allocations (which lot each entry took from or gave back to), atomically, never below zero.

- `ledger_credit`: new lots and their credit entries (purchases, grants, the trial, ...).
- `ledger_debit`: one debit that burns lots in the burn order (usage, negative adjustments).
- `account_locked` + `post`: everything else (refunds, reversals, expiry, voids), under the
  account's row lock, which every writer of an account's lots takes first.

The two hot writes are one statement on PostgreSQL (a data-modifying CTE for credits, the
`tokens_debit` function for debits); on SQLite, whose IMMEDIATE transactions hold the write
lock from their start, they are the same Python as everything else.
"""

from tokens.ledger.burn import burn_plan
from tokens.ledger.core import (
    Entry,
    InsufficientTokens,
    LotChange,
    LotSpec,
    Posting,
    ShortForUsage,
    account_locked,
    covered,
    post,
    whole_second,
)
from tokens.ledger.credit import ledger_credit
from tokens.ledger.debit import Debit, Spendable, Taken, ledger_debit, spendable
from tokens.ledger.usage import Used, Work, ledger_use

__all__ = [
    "Debit",
    "Entry",
    "InsufficientTokens",
    "LotChange",
    "LotSpec",
    "Posting",
    "ShortForUsage",
    "Spendable",
    "Taken",
    "Used",
    "Work",
    "account_locked",
    "burn_plan",
    "covered",
    "ledger_credit",
    "ledger_debit",
    "ledger_use",
    "post",
    "spendable",
    "whole_second",
]
