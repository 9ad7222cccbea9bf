"""Ledger reads: balances, history pages, the CSV export and the invariant check."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from tokens.models import TokenAccount, TokenTransaction

Type = TokenTransaction.Type


@dataclass(frozen=True)
class Balance:
    balance: int
    total_purchased: int
    total_spent: int
    updated_at: datetime | None


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


def token_balance(*, user_id: UUID) -> Balance:
    """Zeros for a user who never had tokens (no account is created by reading)."""
    try:
        account = TokenAccount.objects.get(user_id=user_id)
    except TokenAccount.DoesNotExist:
        return Balance(balance=0, total_purchased=0, total_spent=0, updated_at=None)
    return Balance(
        balance=account.balance,
        total_purchased=account.total_purchased,
        total_spent=account.total_spent,
        updated_at=account.updated_at,
    )


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
    """A numbered page: two queries. Unfiltered, the total is the account's entry count."""
    entries = token_history(user_id=user_id, filters=filters)
    if filters.any:
        total = entries.count()
    else:
        counts = TokenAccount.objects.filter(user_id=user_id).values_list("entry_count", flat=True)
        total = next(iter(counts), 0)
    start = (page - 1) * per_page
    items = list(entries[start : start + per_page])
    more = start + per_page < total
    return HistoryPage(items=items, total=total, next_cursor=items[-1].number if more else None)


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


@dataclass
class LedgerMismatch:
    """An account whose row disagrees with its entries; `problems` says how."""

    account_id: UUID
    user_email: str
    problems: list[str] = field(default_factory=list)


def ledger_check(*, batch_size: int = 1000) -> Iterator[LedgerMismatch]:
    """Checks every account: balance = sum of its entries = the newest entry's balance_after;
    totals and the entry count match the entries.

    One aggregate query per batch of accounts (keyset by id), so memory stays bounded.
    """
    last_id = None
    while True:
        accounts = _accounts_with_ledger_sums()
        if last_id is not None:
            accounts = accounts.filter(id__gt=last_id)
        batch = list(accounts.order_by("id")[:batch_size])
        for account in batch:
            problems = _problems(account)
            if problems:
                yield LedgerMismatch(account.id, account.user.email, problems)
        if len(batch) < batch_size:
            return
        last_id = batch[-1].id


def _accounts_with_ledger_sums() -> QuerySet[TokenAccount]:
    zero = Value(0)
    newest = TokenTransaction.objects.filter(account=OuterRef("pk"), number=OuterRef("entry_count"))
    return TokenAccount.objects.select_related("user").annotate(
        ledger_sum=Coalesce(Sum("entries__amount"), zero),
        ledger_count=Count("entries"),
        ledger_purchased=Coalesce(
            Sum(
                "entries__amount",
                filter=Q(entries__transaction_type__in=[Type.PURCHASE, Type.REVERSAL]),
            ),
            zero,
        ),
        ledger_spent=Coalesce(
            -Sum(
                "entries__amount", filter=Q(entries__transaction_type__in=[Type.USAGE, Type.REFUND])
            ),
            zero,
        ),
        newest_balance_after=Subquery(newest.values("balance_after")[:1]),
        highest_number=Coalesce(
            Subquery(
                TokenTransaction.objects.filter(account=OuterRef("pk"))
                .order_by("-number")
                .values("number")[:1]
            ),
            zero,
        ),
    )


def _problems(account: TokenAccount) -> list[str]:
    problems = []
    if account.balance != account.ledger_sum:
        problems.append(f"balance {account.balance} != sum of entries {account.ledger_sum}")
    newest = account.newest_balance_after if account.entry_count else 0
    if account.balance != newest:
        problems.append(f"balance {account.balance} != newest balance_after {newest}")
    if account.total_purchased != account.ledger_purchased:
        problems.append(
            f"total_purchased {account.total_purchased} != entries {account.ledger_purchased}"
        )
    if account.total_spent != account.ledger_spent:
        problems.append(f"total_spent {account.total_spent} != entries {account.ledger_spent}")
    if not account.entry_count == account.ledger_count == account.highest_number:
        problems.append(
            f"entry_count {account.entry_count}, {account.ledger_count} entries, "
            f"highest number {account.highest_number}"
        )
    return problems
