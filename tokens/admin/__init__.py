"""Token accounts, lots and the ledger in the admin; every write goes through a service."""

from tokens.admin.accounts import TokenAccountAdmin
from tokens.admin.entries import TokenTransactionAdmin
from tokens.admin.lots import TokenLotAdmin

__all__ = ["TokenAccountAdmin", "TokenLotAdmin", "TokenTransactionAdmin"]
