"""What the ledger writes, and the one Python routine that writes it under the account's lock."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Case, F, Q, Value, When

from common import metrics
from common.db import require_transaction
from common.errors import DomainError
from tokens.models import (
    TokenAccount,
    TokenAllocation,
    TokenLot,
    TokenTransaction,
    UnlimitedCoverage,
)

Type = TokenTransaction.Type
PURCHASED_TYPES = frozenset({Type.PURCHASE, Type.REVERSAL})
SPENT_TYPES = frozenset({Type.USAGE, Type.REFUND})


class InsufficientTokens(DomainError):
    code = "insufficient_tokens"
    http_status = 402

    def __init__(self, *, balance: int, needed: int, available: int | None = None) -> None:
        available = balance if available is None else available
        held = f" ({available} available)" if available != balance else ""
        super().__init__(f"The balance is {balance} tokens{held}; this needs {needed}.")
        self.balance = balance
        self.available = available
        self.needed = needed


class ShortForUsage(InsufficientTokens):
    """The usage and hold endpoints' 402 says how short: `balance`, `available`, `needed`."""

    @classmethod
    def of(cls, short: InsufficientTokens) -> ShortForUsage:
        return cls(balance=short.balance, available=short.available, needed=short.needed)

    def details(self) -> dict:
        return {"balance": self.balance, "available": self.available, "needed": self.needed}


@dataclass(frozen=True)
class Entry:
    """What to append; the ledger fills in the account, number and balance_after."""

    amount: int
    transaction_type: str
    reference_type: str = ""
    reference_id: str = ""
    description: str = ""
    idempotency_key: str = ""
    created_by_id: UUID | None = None


def whole_second(moment: datetime) -> datetime:
    """`moment`, or the whole second after it. The API writes times to the second, so
    something that ends at a time it shows (a lot's or a hold's `expires_at`) ends exactly
    there, and never before the moment it was promised."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


@dataclass(frozen=True)
class LotSpec:
    """The lot a credit creates. Every lot is made from one, whoever computed its expiry (a
    purchase's days after capture, the trial's, a plan period's end, a staff grant's input),
    so its `expires_at` is rounded up to the whole second here, once for all of them."""

    category: str
    expires_at: datetime | None = None
    priority: int = 50
    source_type: str = ""
    source_id: str = ""

    def __post_init__(self) -> None:
        if self.expires_at is not None:
            object.__setattr__(self, "expires_at", whole_second(self.expires_at))


@dataclass(frozen=True)
class LotChange:
    """An entry's change to an existing lot's `remaining` (negative takes, positive gives)."""

    lot_id: UUID
    amount: int


@dataclass(frozen=True)
class Posting:
    """One entry and what it does to lots: creates one (`new_lot`, for the entry's amount) or
    changes existing ones (`changes`, adding up to the entry's amount)."""

    entry: Entry
    new_lot: LotSpec | None = None
    changes: tuple[LotChange, ...] = ()
    entry_id: UUID = field(default_factory=uuid.uuid4)
    lot_id: UUID = field(default_factory=uuid.uuid4)

    def __post_init__(self) -> None:
        moved = self.entry.amount if self.new_lot else sum(c.amount for c in self.changes)
        if self.entry.amount == 0 or moved != self.entry.amount:
            raise ValueError("A posting's lot changes must add up to its non-zero amount.")
        if self.new_lot and self.entry.amount < 0:
            raise ValueError("Only a credit creates a lot.")


def account_locked(user_id: UUID, *, create: bool = False) -> TokenAccount | None:
    """The user's account, its row locked until the caller's transaction ends; every writer of
    an account's lots takes this lock first, so they apply one at a time. With `create`, a
    missing account is created (a racing creation is no error)."""
    require_transaction("account_locked")
    accounts = TokenAccount.objects.select_for_update()
    account = accounts.filter(user_id=user_id).first()
    if account is None and create:
        TokenAccount.objects.bulk_create([TokenAccount(user_id=user_id)], ignore_conflicts=True)
        account = accounts.get(user_id=user_id)
    return account


def covered(account: TokenAccount, *, now: datetime) -> bool:
    """Whether an unlimited plan pays for the account's usage at `now`: a paid period that
    has started and not ended (nor been refunded). `unlimited_until`, the end of the latest,
    answers no without a query; it alone said yes also before a period paid ahead had
    started (a metered period's plan made unlimited and paid again early: the renewal
    starts when the metered period ends). As `tokens_use` and `tokens_hold` decide."""
    if account.unlimited_until is None or account.unlimited_until <= now:
        return False
    running = Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    return UnlimitedCoverage.objects.filter(
        running, account=account, revoked_at__isnull=True, starts_at__lte=now
    ).exists()


def post(
    account: TokenAccount, postings: Sequence[Posting], *, now: datetime
) -> list[TokenTransaction]:
    """Appends the postings' entries to a locked account, creates and changes their lots and
    records every allocation; a fixed number of statements however many postings.

    The database refuses a lot below zero or above its amount, and an entry's unique key
    used again (IntegrityError); the caller's transaction then rolls back. The caller checks
    that debits fit.
    """
    require_transaction("post")
    entries, lots, allocations = [], [], []
    changes: dict[UUID, int] = defaultdict(int)
    balance, number = account.balance, account.entry_count
    for posting in postings:
        entry = posting.entry
        balance += entry.amount
        number += 1
        entries.append(
            TokenTransaction(
                id=posting.entry_id,
                account_id=account.pk,
                number=number,
                balance_after=balance,
                created_at=now,
                **entry.__dict__,
            )
        )
        if posting.new_lot:
            lots.append(
                TokenLot(
                    id=posting.lot_id,
                    account_id=account.pk,
                    amount=entry.amount,
                    remaining=entry.amount,
                    credit_id=posting.entry_id,
                    created_at=now,
                    **posting.new_lot.__dict__,
                )
            )
            allocations.append(
                TokenAllocation(
                    entry_id=posting.entry_id, lot_id=posting.lot_id, amount=entry.amount
                )
            )
        for change in posting.changes:
            changes[change.lot_id] += change.amount
            allocations.append(
                TokenAllocation(
                    entry_id=posting.entry_id, lot_id=change.lot_id, amount=change.amount
                )
            )
    TokenTransaction.objects.bulk_create(entries)
    TokenLot.objects.bulk_create(lots)
    if changes:
        TokenLot.objects.filter(pk__in=list(changes)).update(
            remaining=F("remaining")
            + Case(*[When(pk=lot_id, then=Value(delta)) for lot_id, delta in changes.items()])
        )
    TokenAllocation.objects.bulk_create(allocations)
    _account_update(
        account, entries, lots, [lot for lot, delta in changes.items() if delta > 0], now
    )
    metrics.ledger_appended(entries)
    return entries


def _account_update(
    account: TokenAccount,
    entries: list[TokenTransaction],
    new_lots: list[TokenLot],
    refilled_lot_ids: list[UUID],
    now: datetime,
) -> None:
    """Moves the balance and totals with the entries, and keeps `next_expiry_at` a lower bound
    of the expiry of every lot with tokens in it: lots that gained tokens may expire sooner."""
    expiries = [lot.expires_at for lot in new_lots if lot.expires_at]
    if refilled_lot_ids:
        expiries += TokenLot.objects.filter(
            pk__in=refilled_lot_ids, expires_at__isnull=False
        ).values_list("expires_at", flat=True)
    if account.next_expiry_at:
        expiries.append(account.next_expiry_at)
    account.balance += sum(entry.amount for entry in entries)
    account.total_purchased += sum(
        entry.amount for entry in entries if entry.transaction_type in PURCHASED_TYPES
    )
    account.total_spent -= sum(
        entry.amount for entry in entries if entry.transaction_type in SPENT_TYPES
    )
    account.entry_count += len(entries)
    account.next_expiry_at = min(expiries, default=None)
    account.updated_at = now
    account.save(
        update_fields=[
            "balance",
            "total_purchased",
            "total_spent",
            "entry_count",
            "next_expiry_at",
            "updated_at",
        ]
    )


def stored_entry(
    *,
    entry_id: UUID,
    entry: Entry,
    account_id: UUID,
    number: int,
    balance_after: int,
    now: datetime,
) -> TokenTransaction:
    """The model of an entry a statement just appended, as the database holds it (no query)."""
    values = {
        "id": entry_id,
        "account_id": account_id,
        "number": number,
        "balance_after": balance_after,
        "created_at": now,
        **entry.__dict__,
    }
    names = [field.attname for field in TokenTransaction._meta.concrete_fields]
    return TokenTransaction.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])


@cache
def is_postgresql() -> bool:
    """Whether the default database is PostgreSQL: its backend is fixed for the process's
    life, and each look-up of a connection costs a hot path about 17,000 instructions
    (asgiref's check for a running event loop)."""
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"
