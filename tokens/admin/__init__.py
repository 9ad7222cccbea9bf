"""Token accounts, lots and the ledger in the admin; every write goes through a service."""

from tokens.admin.accounts import TokenAccountAdmin
from tokens.admin.entries import TokenTransactionAdmin
from tokens.admin.lots import TokenLotAdmin
from tokens.admin.usage import HoldAdmin, UsageAdmin

__all__ = ["HoldAdmin", "TokenAccountAdmin", "TokenLotAdmin", "TokenTransactionAdmin", "UsageAdmin"]
