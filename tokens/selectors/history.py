"""The ledger's history: pages by number or by cursor, and the CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet, Subquery

from tokens.models import TokenAccount, TokenTransaction

Type = TokenTransaction.Type


@dataclass(frozen=True)
class HistoryFilters:
    transaction_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    @property
    def any(self) -> bool:
        return any((self.transaction_type, self.created_after, self.created_before))


@dataclass(frozen=True)
class HistoryPage:
    items: list[TokenTransaction]
    total: int | None
    next_cursor: int | None


def token_history(*, user_id: UUID, filters: HistoryFilters) -> QuerySet[TokenTransaction]:
    """The user's entries, newest first; only ever this user's.

    The account is picked by a scalar subquery, not a join, so PostgreSQL walks the
    (account, number) index backwards and stops after one page, however long the history.
    """
    account = TokenAccount.objects.filter(user_id=user_id).values("id")[:1]
    entries = TokenTransaction.objects.filter(account_id=Subquery(account))
    if filters.transaction_type:
        entries = entries.filter(transaction_type=filters.transaction_type)
    if filters.created_after:
        entries = entries.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        entries = entries.filter(created_at__lt=filters.created_before)
    return entries.order_by("-number")


def token_history_page(
    *, user_id: UUID, filters: HistoryFilters, page: int, per_page: int
) -> HistoryPage:
    """A numbered page: two queries. Unfiltered, the total is the account's entry count.

    A page past the last has no items and costs the count only: reading its rows would
    walk every entry before it (an OFFSET that deep), to answer that there are none."""
    entries = token_history(user_id=user_id, filters=filters)
    total = token_history_count(user_id=user_id, filters=filters)
    start = (page - 1) * per_page
    if start >= total:
        return HistoryPage(items=[], total=total, next_cursor=None)
    items = list(entries[start : start + per_page])
    more = start + per_page < total
    return HistoryPage(items=items, total=total, next_cursor=items[-1].number if more else None)


def token_history_count(*, user_id: UUID, filters: HistoryFilters) -> int:
    """How many entries token_history holds. Unfiltered, the account's entry count (one row)
    instead of counting a history that may hold millions."""
    if filters.any:
        return token_history(user_id=user_id, filters=filters).count()
    counts = TokenAccount.objects.filter(user_id=user_id).values_list("entry_count", flat=True)
    return next(iter(counts), 0)


def token_history_after(
    *, user_id: UUID, filters: HistoryFilters, before_number: int | None, per_page: int
) -> HistoryPage:
    """A keyset page: entries older than `before_number`; one query however deep it goes."""
    entries = token_history(user_id=user_id, filters=filters)
    if before_number is not None:
        entries = entries.filter(number__lt=before_number)
    items = list(entries[: per_page + 1])
    more = len(items) > per_page
    items = items[:per_page]
    return HistoryPage(items=items, total=None, next_cursor=items[-1].number if more else None)


CSV_COLUMNS = [
    "id",
    "created_at",
    "transaction_type",
    "amount",
    "balance_after",
    "reference_id",
    "description",
]


CSV_BATCH_SIZE = 2000


def token_history_rows(*, user_id: UUID, filters: HistoryFilters) -> Iterator[tuple]:
    """Every matching entry as a CSV_COLUMNS tuple, newest first, fetched in keyset batches
    so memory stays flat however long the history is."""
    batch_size = CSV_BATCH_SIZE
    entries = token_history(user_id=user_id, filters=filters)
    before_number = None
    while True:
        batch = entries if before_number is None else entries.filter(number__lt=before_number)
        rows = list(batch.values_list(*CSV_COLUMNS, "number")[:batch_size])
        for row in rows:
            yield row[:-1]
        if len(rows) < batch_size:
            return
        before_number = rows[-1][-1]
