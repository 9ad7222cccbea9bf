"""The ledger's audit: every account against its entries, its lots and their allocations.

Per batch of accounts (keyset by id), each check is one query that the database answers with
the rows that are wrong only, so memory stays flat however long a history is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, Lag

from tokens.models import TokenAccount, TokenAllocation, TokenLot, TokenTransaction

Type = TokenTransaction.Type
LISTED_PER_CHECK = 5


@dataclass
class LedgerMismatch:
    """An account whose row disagrees with its entries or lots; `problems` says how."""

    account_id: UUID
    user_email: str
    problems: list[str] = field(default_factory=list)


def ledger_check(*, batch_size: int = 1000) -> Iterator[LedgerMismatch]:
    """Checks every account:
    - balance = sum of its entries = the newest entry's balance_after = what its lots hold;
      totals and the entry count agree with the entries;
    - the chain: entries numbered 1..n without gaps, each balance_after = the previous + amount;
    - each entry's allocations add up to its amount; each lot's remaining is what its
      allocations add up to (its amount, less what was taken and expired or voided, plus what
      refunds gave back);
    - no lot paid for anything at or after its expiry.
    """
    last_id = None
    while True:
        accounts = _accounts_with_sums()
        if last_id is not None:
            accounts = accounts.filter(id__gt=last_id)
        batch = list(accounts.order_by("id")[:batch_size])
        if not batch:
            return
        problems = _deep_problems([account.id for account in batch])
        for account in batch:
            found = _account_problems(account) + problems.get(account.id, [])
            if found:
                yield LedgerMismatch(account.id, account.user.email, found)
        if len(batch) < batch_size:
            return
        last_id = batch[-1].id


def _accounts_with_sums() -> QuerySet[TokenAccount]:
    zero = Value(0)
    newest = TokenTransaction.objects.filter(account=OuterRef("pk"), number=OuterRef("entry_count"))
    lots_held = (
        TokenLot.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("remaining"))
        .values("total")
    )
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
        lots_held=Coalesce(Subquery(lots_held), zero),
    )


def _account_problems(account: TokenAccount) -> list[str]:
    problems = []
    if account.balance != account.ledger_sum:
        problems.append(f"balance {account.balance} != sum of entries {account.ledger_sum}")
    newest = account.newest_balance_after if account.entry_count else 0
    if account.balance != newest:
        problems.append(f"balance {account.balance} != newest balance_after {newest}")
    if account.balance != account.lots_held:
        problems.append(f"balance {account.balance} != what its lots hold {account.lots_held}")
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


def _deep_problems(account_ids: list[UUID]) -> dict[UUID, list[str]]:
    """The chain, allocations and lots of these accounts: only what is wrong comes back."""
    found: dict[UUID, list[str]] = defaultdict(list)
    chain = (
        TokenTransaction.objects.filter(account_id__in=account_ids)
        .annotate(
            previous_number=Window(Lag("number"), partition_by="account_id", order_by="number"),
            previous_balance=Window(
                Lag("balance_after"), partition_by="account_id", order_by="number"
            ),
        )
        .filter(
            ~Q(number=Coalesce("previous_number", 0) + 1)
            | ~Q(balance_after=Coalesce("previous_balance", 0) + F("amount"))
        )
        .values_list("account_id", "number", "previous_number", "balance_after", "amount")
    )
    for account_id, number, previous, balance_after, amount in chain[: LISTED_PER_CHECK * 1000]:
        if len(found[account_id]) < LISTED_PER_CHECK:
            found[account_id].append(
                f"entry {number} (after {previous or 'none'}): balance_after {balance_after} "
                f"does not follow from the previous entry and {amount:+d}, or a number is missing"
            )
    unallocated = (
        TokenTransaction.objects.filter(account_id__in=account_ids)
        .annotate(allocated=Coalesce(Sum("allocations__amount"), 0))
        .exclude(allocated=F("amount"))
        .values_list("account_id", "number", "amount", "allocated")
    )
    for account_id, number, amount, allocated in unallocated:
        found[account_id].append(f"entry {number}: amount {amount} != its allocations {allocated}")
    lots = (
        TokenLot.objects.filter(account_id__in=account_ids)
        .annotate(allocated=Coalesce(Sum("allocations__amount"), 0))
        .exclude(allocated=F("remaining"))
        .values_list("account_id", "id", "remaining", "allocated")
    )
    for account_id, lot_id, remaining, allocated in lots:
        found[account_id].append(
            f"lot {lot_id}: remaining {remaining} != amount and its changes {allocated}"
        )
    late = (
        TokenAllocation.objects.filter(
            lot__account_id__in=account_ids,
            amount__lt=0,
            lot__expires_at__isnull=False,
            entry__created_at__gte=F("lot__expires_at"),
        )
        .exclude(entry__transaction_type=Type.EXPIRATION)
        .values_list("lot__account_id", "lot_id", "entry__number")
    )
    for account_id, lot_id, number in late:
        found[account_id].append(f"lot {lot_id} paid for entry {number} after it expired")
    return found
