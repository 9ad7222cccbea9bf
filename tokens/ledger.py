"""The ledger's one write: move a balance and append the entries that explain it, atomically,
never below zero.

On PostgreSQL this is one statement: a data-modifying CTE whose conditional UPDATE of the
account (which locks the row until commit) feeds the INSERT of the entries. One statement is
atomic by itself, so it needs no BEGIN/COMMIT of its own. On SQLite, which has no
data-modifying CTEs, it is the same UPDATE ... RETURNING and an INSERT inside one IMMEDIATE
transaction, which holds the database's write lock from its start.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from common import metrics
from common.db import savepoint_if_nested
from common.errors import DomainError
from tokens.models import TokenAccount, TokenTransaction

Type = TokenTransaction.Type
PURCHASED_TYPES = {Type.PURCHASE, Type.REVERSAL}
SPENT_TYPES = {Type.USAGE, Type.REFUND}
ACCOUNTS = TokenAccount._meta.db_table
ENTRIES = TokenTransaction._meta.db_table


class InsufficientTokens(DomainError):
    code = "insufficient_tokens"
    http_status = 402

    def __init__(self, *, balance: int, needed: int) -> None:
        super().__init__(f"The balance is {balance} tokens; this needs {needed}.")
        self.balance = balance
        self.needed = needed


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


@dataclass(frozen=True)
class _Change:
    user_id: UUID
    entries: Sequence[Entry]
    ids: list[UUID]
    delta: int
    purchased: int
    spent: int
    now: datetime


def ledger_append(*, user_id: UUID, entries: Sequence[Entry]) -> list[TokenTransaction]:
    """Appends entries for one user, all credits or all debits, and moves the balance.

    Concurrent appends to one account are serialized by the account's row lock and numbered
    in the order they commit. Raises InsufficientTokens (nothing changed) for debits larger
    than the balance, and IntegrityError for an entry the ledger's unique constraints already
    hold (an idempotency key or a reference used again); inside a caller's transaction, a
    savepoint keeps that transaction usable.
    """
    if not entries:
        return []
    if 0 in {entry.amount for entry in entries} or len({e.amount > 0 for e in entries}) != 1:
        raise ValueError("Append only non-zero credits, or only non-zero debits, at once.")
    change = _Change(
        user_id=user_id,
        entries=entries,
        ids=[uuid.uuid4() for _ in entries],
        delta=sum(entry.amount for entry in entries),
        purchased=sum(e.amount for e in entries if e.transaction_type in PURCHASED_TYPES),
        spent=-sum(e.amount for e in entries if e.transaction_type in SPENT_TYPES),
        now=timezone.now(),
    )
    write = _append_postgresql if connection.vendor == "postgresql" else _append_sqlite
    with savepoint_if_nested():
        rows = write(change)
        if rows is None and change.delta > 0:
            # The user's first credit: create the account (one INSERT ... ON CONFLICT DO
            # NOTHING, so a racing first credit is no error) and apply again.
            TokenAccount.objects.bulk_create([TokenAccount(user_id=user_id)], ignore_conflicts=True)
            rows = write(change)
        if rows is None:
            raise InsufficientTokens(balance=_balance_of(user_id), needed=-change.delta)
    appended = [_entry(change, index, *row) for index, row in enumerate(sorted(rows, key=_number))]
    for entry in appended:
        entry._state.adding = False
        entry._state.db = connection.alias
    metrics.ledger_appended(appended)
    return appended


def _number(row: tuple) -> int:
    return row[1]


_ACCOUNT_UPDATE = f"""
UPDATE {ACCOUNTS}
SET balance = balance + %s,
    total_purchased = total_purchased + %s,
    total_spent = total_spent + %s,
    entry_count = entry_count + %s,
    updated_at = %s
WHERE user_id = %s AND balance + %s >= 0
RETURNING id, balance, entry_count
"""  # noqa: S608 (table names come from the models, values are parameters)

_ENTRY_COLUMNS = (
    "id, amount, transaction_type, reference_type, reference_id, description, "
    "idempotency_key, created_by_id"
)
_ENTRY_ROW = "(%s::uuid, %s::bigint, %s, %s, %s, %s, %s, %s::uuid, %s::bigint, %s::bigint)"


def _append_postgresql(change: _Change) -> list[tuple] | None:
    values = ", ".join([_ENTRY_ROW] * len(change.entries))
    sql = f"""
WITH account AS ({_ACCOUNT_UPDATE})
INSERT INTO {ENTRIES} ({_ENTRY_COLUMNS}, account_id, number, balance_after, created_at)
SELECT entry.id, entry.amount, entry.transaction_type, entry.reference_type, entry.reference_id,
       entry.description, entry.idempotency_key, entry.created_by_id, account.id,
       account.entry_count - %s + entry.position, account.balance - %s + entry.running, %s
FROM account CROSS JOIN (VALUES {values})
    AS entry({_ENTRY_COLUMNS}, position, running)
ORDER BY entry.position
RETURNING account_id, number, balance_after
"""  # noqa: S608 (table and column names are ours, values are parameters)
    parameters = [
        *_account_parameters(change),
        len(change.entries),
        change.delta,
        change.now,
        *_entry_parameters(change),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    return rows or None


def _append_sqlite(change: _Change) -> list[tuple] | None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_ACCOUNT_UPDATE, _account_parameters(change))
            account = cursor.fetchone()
        if account is None:
            return None
        account_id, balance, entry_count = TokenAccount._meta.pk.to_python(account[0]), *account[1:]
        first_number = entry_count - len(change.entries) + 1
        start = balance - change.delta
        rows = [
            (account_id, first_number + index, start + running)
            for index, running in enumerate(_running_totals(change.entries))
        ]
        TokenTransaction.objects.bulk_create(
            _entry(change, index, *row) for index, row in enumerate(rows)
        )
        return rows


def _account_parameters(change: _Change) -> list:
    meta = TokenAccount._meta
    return [
        change.delta,
        change.purchased,
        change.spent,
        len(change.entries),
        meta.get_field("updated_at").get_db_prep_value(change.now, connection),
        meta.get_field("user").get_db_prep_value(change.user_id, connection),
        change.delta,
    ]


def _entry_parameters(change: _Change) -> list:
    parameters = []
    for index, (entry, running) in enumerate(
        zip(change.entries, _running_totals(change.entries), strict=True)
    ):
        parameters += [
            change.ids[index],
            entry.amount,
            entry.transaction_type,
            entry.reference_type,
            entry.reference_id,
            entry.description,
            entry.idempotency_key,
            entry.created_by_id,
            index + 1,
            running,
        ]
    return parameters


def _running_totals(entries: Sequence[Entry]) -> list[int]:
    totals, running = [], 0
    for entry in entries:
        running += entry.amount
        totals.append(running)
    return totals


def _entry(
    change: _Change, index: int, account_id: UUID, number: int, balance_after: int
) -> TokenTransaction:
    entry = change.entries[index]
    return TokenTransaction(
        id=change.ids[index],
        account_id=account_id,
        number=number,
        balance_after=balance_after,
        created_at=change.now,
        amount=entry.amount,
        transaction_type=entry.transaction_type,
        reference_type=entry.reference_type,
        reference_id=entry.reference_id,
        description=entry.description,
        idempotency_key=entry.idempotency_key,
        created_by_id=entry.created_by_id,
    )


def _balance_of(user_id: UUID) -> int:
    balance = TokenAccount.objects.filter(user_id=user_id).values_list("balance", flat=True)
    return next(iter(balance), 0)
