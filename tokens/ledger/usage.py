"""Usage: one piece of work recorded with what paid for it, in the order subscription, then
lots (trial lots burn first by the lot order), in one write.

PostgreSQL: one call of `tokens_use` (tokens/migrations/0008), which records covered usage or
calls `tokens_debit` and records what it charged. SQLite: the same in Python.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from common.db import loaded, savepoint_if_nested
from tokens.ledger.core import (
    Entry,
    InsufficientTokens,
    account_locked,
    covered,
    is_postgresql,
)
from tokens.ledger.debit import Covered, Debit, Taken, debit_postgresql, debit_python
from tokens.ledger.waits import once_the_account_is_ours
from tokens.models import (
    Hold,
    LotCategory,
    TokenAccount,
    TokenTransaction,
    UsageRecord,
    UsageSource,
)

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

Type = TokenTransaction.Type


@dataclass(frozen=True)
class Work:
    """What the caller asks to record."""

    amount: int
    feature: str = ""
    description: str = ""
    reference: str = ""
    usage_key: str = ""
    entry_key: str = ""


@dataclass(frozen=True)
class Used:
    """The usage as stored, the lots it took from, and the balance afterwards (None when a
    subscription covered it: nothing moved)."""

    usage: UsageRecord
    entry: TokenTransaction | None = None
    taken: list[Taken] = field(default_factory=list)
    balance: int | None = None
    available: int | None = None
    threshold: int | None = None


def ledger_use(
    *,
    user_id: UUID,
    work: Work,
    now: datetime | None = None,
    hold: Hold | None = None,
    partial: bool = False,
    database: BaseDatabaseWrapper | None = None,
) -> Used:
    """Records `work`: free while an unlimited plan covers the user (not for a hold's
    capture, whose hold says how it is paid), else charged to lots in the lot order. On
    `database`, the default connection the caller has already looked up, or looked up here.

    Raises InsufficientTokens (nothing changed) and IntegrityError for a key already used.
    """
    now = now or timezone.now()
    usage_id = uuid.uuid4()
    entry = usage_entry(work)
    with savepoint_if_nested(database):
        if is_postgresql():
            return _use_postgresql(user_id, work, entry, usage_id, now, hold, partial, database)
        with transaction.atomic():
            return _use_python(user_id, work, entry, usage_id, now, hold, partial)


def usage_entry(work: Work) -> Entry:
    """The debit entry that pays for `work` (its amount is what the lots give)."""
    return Entry(
        amount=-work.amount,
        transaction_type=Type.USAGE,
        reference_type="client" if work.reference else "",
        reference_id=work.reference,
        description=work.description,
        idempotency_key=work.entry_key,
    )


def _use_postgresql(
    user_id: UUID,
    work: Work,
    entry: Entry,
    usage_id: UUID,
    now: datetime,
    hold: Hold | None,
    partial: bool,
    database: BaseDatabaseWrapper | None,
) -> Used:
    entry_id = uuid.uuid4()

    def use(at: datetime) -> Used:
        arguments = [
            user_id,
            work.amount,
            at,
            usage_id,
            entry_id,
            work.feature,
            work.description,
            work.reference,
            work.usage_key,
            work.entry_key,
            hold.pk if hold else None,
            partial,
        ]
        try:
            debit = debit_postgresql(
                "tokens_use", arguments, entry_id=entry_id, entry=entry, now=at, database=database
            )
        except Covered:
            account_id = TokenAccount.objects.values_list("pk", flat=True).get(user_id=user_id)
            return Used(usage=covered_usage(usage_id, account_id, work, at))
        return charged_usage(usage_id, work, debit, hold, at)

    return once_the_account_is_ours(user_id, now, use, database)


def _use_python(
    user_id: UUID,
    work: Work,
    entry: Entry,
    usage_id: UUID,
    now: datetime,
    hold: Hold | None,
    partial: bool,
) -> Used:
    account = account_locked(user_id)
    if account is None:
        raise InsufficientTokens(balance=0, needed=work.amount)
    if hold is None and covered(account, now=now):
        usage = covered_usage(usage_id, account.pk, work, now)
        usage.save(force_insert=True)
        return Used(usage=usage)
    debit = debit_python(user_id, entry, now=now, hold=hold, partial=partial)
    used = charged_usage(usage_id, work, debit, hold, now)
    used.usage.save(force_insert=True)
    return used


def covered_usage(
    usage_id: UUID, account_id: UUID, work: Work, now: datetime, hold: Hold | None = None
) -> UsageRecord:
    """The usage record of work an unlimited plan paid for (a function inserts it; SQLite's
    twin saves it)."""
    return loaded(
        UsageRecord,
        {
            "id": usage_id,
            "account_id": account_id,
            "amount": work.amount,
            "charged": 0,
            "source": UsageSource.SUBSCRIPTION,
            "feature": work.feature,
            "description": work.description,
            "reference": work.reference,
            "hold_id": hold.pk if hold else None,
            "idempotency_key": work.usage_key,
            "created_at": now,
        },
    )


def charged_usage(
    usage_id: UUID, work: Work, debit: Debit, hold: Hold | None, now: datetime
) -> Used:
    """The usage record of work that `debit` paid for, as a function inserts it (SQLite's
    twin saves it)."""
    trial_only = all(taken.category == LotCategory.TRIAL for taken in debit.taken)
    usage = loaded(
        UsageRecord,
        {
            "id": usage_id,
            "account_id": debit.entry.account_id,
            "amount": work.amount,
            "charged": -debit.entry.amount,
            "source": UsageSource.TRIAL if trial_only else UsageSource.TOKENS,
            "feature": work.feature,
            "description": work.description,
            "reference": work.reference,
            "entry_id": debit.entry.pk,
            "hold_id": hold.pk if hold else None,
            "idempotency_key": work.usage_key,
            "created_at": now,
        },
    )
    return Used(
        usage=usage,
        entry=debit.entry,
        taken=debit.taken,
        balance=debit.balance,
        available=debit.available,
        threshold=debit.threshold,
    )
