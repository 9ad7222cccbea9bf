"""The ledger audit's checks of rows (tokens.selectors.audit runs them per batch of accounts):
the chain of entries, entries and lots against their allocations, lots that paid for an
entry after they expired. Each is one query answering figures per account, never rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import reduce
from operator import or_
from uuid import UUID

from django.db.models import (
    Count,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, Lag

from tokens.models import (
    TokenAllocation,
    TokenLot,
    TokenTransaction,
)

Type = TokenTransaction.Type
Found = dict[UUID, list[str]]


def deep_problems(ids: list[UUID]) -> Found:
    """The chain, allocations and lots of these accounts, by account: what is wrong in each,
    counted, and the first of each kind described."""
    found: Found = defaultdict(list)
    _chain_breaks(found, ids)
    _first_of_each(
        found,
        TokenTransaction.objects.filter(account_id__in=ids)
        .annotate(allocated=_allocated_to("entry"))
        .exclude(allocated=F("amount")),
        account="account_id",
        first="number",
        describe=lambda e: f"entry {e.number}: amount {e.amount} != its allocations {e.allocated}",
    )
    _first_of_each(
        found,
        TokenLot.objects.filter(account_id__in=ids)
        .annotate(allocated=_allocated_to("lot"))
        .exclude(allocated=F("remaining")),
        account="account_id",
        first="created_at",
        describe=lambda lot: (
            f"lot {lot.pk}: remaining {lot.remaining} != amount and its changes {lot.allocated}"
        ),
    )
    _first_of_each(
        found,
        TokenAllocation.objects.filter(
            lot__account_id__in=ids,
            amount__lt=0,
            lot__expires_at__isnull=False,
            entry__created_at__gte=F("lot__expires_at"),
        )
        .exclude(entry__transaction_type=Type.EXPIRATION)
        .select_related("entry"),
        account="lot__account_id",
        first="entry__number",
        describe=lambda a: f"lot {a.lot_id} paid for entry {a.entry.number} after it expired",
    )
    return found


def _allocated_to(owner: str) -> Coalesce:
    """What the allocations of the outer entry or lot (`owner`) add up to."""
    allocations = TokenAllocation.objects.filter(**{owner: OuterRef("pk")}).order_by()
    return Coalesce(
        Subquery(allocations.values(owner).annotate(total=Sum("amount")).values("total")),
        Value(0),
    )


def _chain_breaks(found: Found, ids: list[UUID]) -> None:
    """Entries whose number or balance_after does not follow from the entry before them: a
    window over each account's entries in number order, which the database walks along the
    (account, number) index."""
    by_number = {"partition_by": "account_id", "order_by": "number"}
    breaks = (
        TokenTransaction.objects.filter(account_id__in=ids)
        .annotate(
            previous_number=Window(Lag("number"), **by_number),
            previous_balance=Window(Lag("balance_after"), **by_number),
        )
        .filter(
            ~Q(number=Coalesce("previous_number", 0) + 1)
            | ~Q(balance_after=Coalesce("previous_balance", 0) + F("amount"))
        )
    )
    before = TokenTransaction.objects.filter(
        account_id=OuterRef("account_id"), number__lt=OuterRef("number")
    ).order_by("-number")
    _first_of_each(
        found,
        TokenTransaction.objects.filter(pk__in=breaks.values("pk")),
        account="account_id",
        first="number",
        describe=_chain_break,
        details={
            "previous_number": Subquery(before.values("number")[:1]),
            "previous_balance": Subquery(before.values("balance_after")[:1]),
        },
    )


def _chain_break(entry: TokenTransaction) -> str:
    previous = entry.previous_number or 0
    expected = (entry.previous_balance or 0) + entry.amount
    if entry.number != previous + 1:
        return f"entry {entry.number} follows entry {previous or 'none'}: a number is missing"
    return (
        f"entry {entry.number}: balance_after {entry.balance_after} != the previous "
        f"{entry.previous_balance or 0} {entry.amount:+d} = {expected}"
    )


def _first_of_each(
    found: Found,
    wrong: QuerySet,
    *,
    account: str,
    first: str,
    describe: Callable,
    details: dict | None = None,
) -> None:
    """Adds, per account, how many rows of `wrong` there are and what the first (lowest
    `first`) is: two queries, whatever their number."""
    counts = {
        (row[account], row["first"]): row["how_many"]
        for row in wrong.order_by()
        .values(account)
        .annotate(how_many=Count("pk"), first=Min(first))
        .values(account, "first", "how_many")
    }
    if not counts:
        return
    firsts = wrong.filter(reduce(or_, (Q(**{account: a, first: f}) for a, f in counts)))
    listed = set()
    for row in firsts.annotate(**(details or {})).annotate(owner=F(account)).order_by("pk"):
        key = (row.owner, _attribute(row, first))
        if key in listed:
            continue
        listed.add(key)
        more = counts[key] - 1
        found[row.owner].append(describe(row) + (f" (and {more} more like it)" if more else ""))


def _attribute(row, path: str):
    """`entry__number` of an allocation is `row.entry.number`."""
    return reduce(getattr, path.split("__"), row)
