"""The ledger's audit: every account against its entries, its lots and their allocations.

Accounts go in batches (keyset by id). Per batch each check is one query that the database
answers with figures per account, never with the rows it reads: a check that finds wrong
rows in an account counts them and describes the first (by entry number). So memory stays
flat however long a history is and however much of it is wrong, and one badly broken
account cannot crowd another out of the report. No query groups by anything larger than an
account or an entry; one account of 1,000,000 entries takes a few seconds
(`make bench BENCH_ARGS=ledger_check`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db.models import (
    Count,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from tokens.models import (
    Hold,
    LedgerCheckRun,
    TokenAccount,
    TokenLot,
    TokenTransaction,
)
from tokens.selectors.audit_rows import deep_problems

Type = TokenTransaction.Type


@dataclass
class LedgerMismatch:
    """An account whose row disagrees with its entries or lots; `problems` says how. Named
    by its id and its user's, never the user's email: the listing goes to the worker's log,
    which carries no personal data (the ids find both in the admin)."""

    account_id: UUID
    user_id: UUID
    problems: list[str] = field(default_factory=list)


def ledger_check(*, batch_size: int = 1000) -> Iterator[LedgerMismatch]:
    """Checks every account:
    - balance = sum of its entries = the newest entry's balance_after = what its lots hold;
      totals and the entry count agree with the entries;
    - the chain: entries numbered 1..n without gaps, each balance_after = the previous + amount;
    - each entry's allocations add up to its amount; each lot's remaining is what its
      allocations add up to (its amount, less what was taken and expired or voided, plus what
      refunds gave back);
    - no lot paid for anything at or after its expiry;
    - what the account holds is what its active holds reserve, and its two expiry bounds are
      no later than the soonest expiry of a lot with tokens in it and of an active hold (a
      bound too late would let expired tokens be spent, or a lapsed hold keep reserving).
    """
    last_id = None
    while True:
        page = _accounts_with_figures()
        if last_id is not None:
            page = page.filter(id__gt=last_id)
        batch = list(page.order_by("id")[:batch_size])
        if not batch:
            return
        found = deep_problems([account.id for account in batch])
        for account in batch:
            problems = _account_problems(account) + found[account.id]
            if problems:
                yield LedgerMismatch(account.id, account.user_id, problems)
        if len(batch) < batch_size:
            return
        last_id = batch[-1].id


def ledger_check_last_run() -> LedgerCheckRun | None:
    """The newest finished audit, or None before the first: one indexed read."""
    return LedgerCheckRun.objects.order_by("-finished_at").first()


def _accounts_with_figures() -> QuerySet[TokenAccount]:
    """Each account with what its entries and lots add up to, in the one statement that reads
    the account, so a write committed meanwhile cannot make them disagree. Each figure is a
    subquery over that account's rows alone (no grouping of the accounts with their entries,
    which would evaluate the subqueries once per entry)."""
    entries = TokenTransaction.objects.filter(account=OuterRef("pk")).order_by().values("account")

    def total(expression, **filters):
        subquery = entries.filter(**filters).annotate(total=expression).values("total")
        return Coalesce(Subquery(subquery), Value(0))

    newest = TokenTransaction.objects.filter(account=OuterRef("pk"), number=OuterRef("entry_count"))
    highest = TokenTransaction.objects.filter(account=OuterRef("pk")).order_by("-number")
    lots_held = (
        TokenLot.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(total=Sum("remaining"))
        .values("total")
    )
    live_lots = TokenLot.objects.filter(
        account=OuterRef("pk"), remaining__gt=0, expires_at__isnull=False
    ).order_by()
    active_holds = (
        Hold.objects.filter(
            account=OuterRef("pk"), status=Hold.Status.ACTIVE, source=Hold.Source.TOKENS
        )
        .order_by()
        .values("account")
    )
    reserved = active_holds.annotate(total=Sum(F("amount") - F("captured"))).values("total")
    return TokenAccount.objects.annotate(
        ledger_sum=total(Sum("amount")),
        ledger_count=total(Count("id")),
        ledger_purchased=total(Sum("amount"), transaction_type__in=[Type.PURCHASE, Type.REVERSAL]),
        ledger_spent=total(-Sum("amount"), transaction_type__in=[Type.USAGE, Type.REFUND]),
        highest_number=Coalesce(Subquery(highest.values("number")[:1]), Value(0)),
        newest_balance_after=Subquery(newest.values("balance_after")[:1]),
        lots_held=Coalesce(Subquery(lots_held), Value(0)),
        holds_reserve=Coalesce(Subquery(reserved), Value(0)),
        soonest_lot_expiry=Subquery(live_lots.order_by("expires_at").values("expires_at")[:1]),
        soonest_hold_expiry=Subquery(active_holds.order_by("expires_at").values("expires_at")[:1]),
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
    if account.held != account.holds_reserve:
        problems.append(f"held {account.held} != what active holds reserve {account.holds_reserve}")
    for bound, soonest, of in (
        ("next_expiry_at", account.soonest_lot_expiry, "a lot with tokens"),
        ("next_hold_expiry_at", account.soonest_hold_expiry, "an active hold"),
    ):
        stored = getattr(account, bound)
        if soonest is not None and (stored is None or stored > soonest):
            problems.append(f"{bound} {_time(stored)} is after {of} expires ({_time(soonest)})")
    return problems


def _time(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "none"
