"""Funding accounts and reading lots, shared by the test_lots_* modules."""

from datetime import UTC, datetime

from tokens.models import TokenAllocation, TokenLot, TokenTransaction

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def remaining(*lots: TokenLot) -> list[int]:
    return [TokenLot.objects.get(pk=lot.pk).remaining for lot in lots]


def taken_by(entry: TokenTransaction) -> dict:
    return {a.lot_id: a.amount for a in TokenAllocation.objects.filter(entry=entry)}
