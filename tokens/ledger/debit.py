"""A debit: takes tokens from the account's unexpired lots in the burn order, never more than
is available (the balance less what active holds reserve).

PostgreSQL: one call of the `tokens_debit` function (tokens/migrations/0008): it locks the
account row (held by another writer, it is called again once the lock is ours:
tokens.ledger.waits), then (each of its statements sees everything committed before the lock
was granted) checks what is available, appends the entry, burns the lots with one set-based
UPDATE and records the allocations. SQLite: the same steps in Python inside the IMMEDIATE
transaction. Either way, a fixed number of statements however many lots.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import transaction
from django.db.models import F, Min, Q, Sum
from django.utils import timezone

from common import metrics
from common.db import fetched, savepoint_if_nested
from tokens.ledger.burn import burn_plan
from tokens.ledger.core import (
    SPENT_TYPES,
    Entry,
    InsufficientTokens,
    Posting,
    account_locked,
    is_postgresql,
    post,
    stored_entry,
)
from tokens.ledger.waits import AccountInUse, once_the_account_is_ours
from tokens.models import Hold, TokenAccount, TokenLot, TokenTransaction

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass(frozen=True)
class Taken:
    lot_id: UUID
    category: str
    amount: int


@dataclass(frozen=True)
class Debit:
    """The entry, the lots it took from, and what the user sees afterwards: the balance (less
    expired tokens not yet swept) and what is available (less active holds)."""

    entry: TokenTransaction
    taken: list[Taken]
    balance: int
    available: int
    threshold: int | None = None

    @property
    def amount(self) -> int:
        return -self.entry.amount


def unswept_expired(account: TokenAccount, *, now: datetime) -> int:
    """Tokens of lots expired by `now` that the sweep has not booked yet, on a locked account:
    in the stored balance, never in what is shown or spent. No query while `next_expiry_at`
    is ahead. Once it has passed, the lots are read and the bound found again and stored: a
    lot emptied before it expired leaves the bound behind, and the sweep never visits it."""
    if account.next_expiry_at is None or account.next_expiry_at > now:
        return 0
    lots = TokenLot.objects.filter(account=account, remaining__gt=0, expires_at__isnull=False)
    found = lots.aggregate(
        expired=Sum("remaining", filter=Q(expires_at__lte=now), default=0),
        soonest=Min("expires_at"),
    )
    _bound_moved(account, "next_expiry_at", found["soonest"])
    return found["expired"]


def reserved(account: TokenAccount, *, now: datetime) -> int:
    """Tokens that holds which have not expired reserve, on a locked account. No query while
    no active hold can have expired (`next_hold_expiry_at` is ahead). Once that bound has
    passed, the holds are read and the bound found again and stored: a capture resolves its
    hold without moving the bound, which would otherwise send every later debit here."""
    if account.next_hold_expiry_at is None or account.next_hold_expiry_at > now:
        return account.held
    holds = Hold.objects.filter(
        account=account, status=Hold.Status.ACTIVE, source=Hold.Source.TOKENS
    )
    found = holds.aggregate(
        held=Sum(F("amount") - F("captured"), filter=Q(expires_at__gt=now), default=0),
        soonest=Min("expires_at"),
    )
    _bound_moved(account, "next_hold_expiry_at", found["soonest"])
    return found["held"]


def _bound_moved(account: TokenAccount, field: str, soonest: datetime | None) -> None:
    if getattr(account, field) != soonest:
        setattr(account, field, soonest)
        TokenAccount.objects.filter(pk=account.pk).update(**{field: soonest})


@dataclass(frozen=True)
class Spendable:
    """A locked account's balance as shown, and what a debit (or a hold's capture) may take."""

    balance: int
    available: int


def spendable(account: TokenAccount, *, now: datetime, hold: Hold | None = None) -> Spendable:
    shown = account.balance - unswept_expired(account, now=now)
    own = hold.uncaptured if hold and hold.source == Hold.Source.TOKENS else 0
    return Spendable(balance=shown, available=shown - max(reserved(account, now=now) - own, 0))


def ledger_debit(
    *,
    user_id: UUID,
    entry: Entry,
    now: datetime | None = None,
    hold: Hold | None = None,
    partial: bool = False,
) -> Debit:
    """Appends one debit (`entry.amount` < 0) that burns lots in the burn order.

    A capture names its `hold`, whose reservation it may spend. With `partial` and a `hold`, a
    debit larger than what is available takes what there is (the entry says how much): a
    capture, short only when the holds reserve more than the balance, takes up to the whole
    balance. Without a hold a debit is whole or refused, `partial` or not (tokens 0018). Raises
    InsufficientTokens (nothing changed) when nothing fits, and IntegrityError for an
    idempotency key or reference the ledger already holds; inside a caller's transaction, a
    savepoint keeps that transaction usable.
    """
    if entry.amount >= 0:
        raise ValueError("A debit is a negative amount.")
    now = now or timezone.now()
    with savepoint_if_nested():
        if is_postgresql():
            entry_id = uuid.uuid4()

            def debit(at: datetime) -> Debit:
                return debit_postgresql(
                    "tokens_debit",
                    [
                        user_id,
                        -entry.amount,
                        at,
                        entry_id,
                        entry.transaction_type,
                        entry.reference_type,
                        entry.reference_id,
                        entry.description,
                        entry.idempotency_key,
                        entry.created_by_id,
                        entry.transaction_type in SPENT_TYPES,
                        hold.pk if hold else None,
                        partial,
                    ],
                    entry_id=entry_id,
                    entry=entry,
                    now=at,
                )

            return once_the_account_is_ours(user_id, now, debit)
        with transaction.atomic():
            return debit_python(user_id, entry, now=now, hold=hold, partial=partial)


def debit_python(
    user_id: UUID, entry: Entry, *, now: datetime, hold: Hold | None, partial: bool
) -> Debit:
    """The SQLite twin of `tokens_debit`, inside the caller's transaction."""
    account = account_locked(user_id)
    needed = -entry.amount
    if account is None:
        raise InsufficientTokens(balance=0, needed=needed)
    can = spendable(account, now=now, hold=hold)
    if can.available < needed:
        # Short, a capture takes what there is (never below zero): the holds reserve more than
        # the balance, so not every one can be paid, and the work done is charged first.
        if not (partial and hold is not None and can.balance > 0):
            raise InsufficientTokens(balance=can.balance, available=can.available, needed=needed)
        needed = min(needed, can.balance)
        entry = Entry(**{**entry.__dict__, "amount": -needed})
    lots = {lot.pk: lot for lot in TokenLot.objects.filter(account=account, remaining__gt=0)}
    changes = burn_plan(lots.values(), needed, now=now)
    (appended,) = post(account, [Posting(entry=entry, changes=tuple(changes))], now=now)
    taken = [Taken(c.lot_id, lots[c.lot_id].category, -c.amount) for c in changes]
    return Debit(
        entry=appended,
        taken=taken,
        balance=can.balance - needed,
        available=can.available - needed,
        threshold=account.low_balance_threshold,
    )


def debit_postgresql(
    function: str,
    arguments: list,
    *,
    entry_id: UUID,
    entry: Entry,
    now: datetime,
    database: BaseDatabaseWrapper | None = None,
) -> Debit:
    """Calls `tokens_debit` or `tokens_use` and reads its rows: one per lot burned, or one
    saying why nothing was (AccountInUse: another writer holds the account). On `database`,
    the default connection the caller has already looked up, or looked up here."""
    placeholders = ", ".join(["%s"] * len(arguments))
    sql = f"SELECT * FROM {function}({placeholders})"  # noqa: S608
    rows = fetched(sql, arguments, database)
    status, account_id, number, balance_after, shown, available, threshold = rows[0][:7]
    if status == "locked":
        raise AccountInUse()
    if status == "insufficient":
        raise InsufficientTokens(balance=shown, available=available, needed=-entry.amount)
    if status == "covered":
        raise Covered()
    return debit_appended(
        entry_id=entry_id,
        entry=entry,
        taken=[Taken(lot_id, category, amount) for *_, lot_id, category, amount in rows],
        account_id=account_id,
        number=number,
        balance_after=balance_after,
        balances=(shown, available, threshold),
        now=now,
    )


def debit_appended(
    *,
    entry_id: UUID,
    entry: Entry,
    taken: list[Taken],
    account_id: UUID,
    number: int,
    balance_after: int,
    balances: tuple[int, int, int | None],
    now: datetime,
) -> Debit:
    """The debit a function just appended, from what it answered (no query): its entry took
    what the lots gave, and `balances` are the balance shown, what is available and the
    user's threshold afterwards."""
    entry = Entry(**{**entry.__dict__, "amount": -sum(t.amount for t in taken)})
    appended = stored_entry(
        entry_id=entry_id,
        entry=entry,
        account_id=account_id,
        number=number,
        balance_after=balance_after,
        now=now,
    )
    metrics.ledger_appended([appended])
    shown, available, threshold = balances
    return Debit(
        entry=appended, taken=taken, balance=shown, available=available, threshold=threshold
    )


class Covered(Exception):
    """`tokens_use` recorded the usage as covered by an unlimited plan: no debit."""
