"""Credits: each posting appends a credit entry and creates the lot that holds its tokens.

PostgreSQL: one statement, a data-modifying CTE whose upsert of the account (it takes the row
lock until commit) feeds the INSERTs of the entries, the lots and their first allocations.
A credit reads no lots, so it needs no earlier lock. SQLite: the same in Python inside the
IMMEDIATE transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from common import metrics
from common.db import savepoint_if_nested
from tokens.ledger.core import (
    PURCHASED_TYPES,
    SPENT_TYPES,
    Posting,
    account_locked,
    is_postgresql,
    post,
    stored_entry,
)
from tokens.models import TokenAccount, TokenAllocation, TokenLot, TokenTransaction

ACCOUNTS = TokenAccount._meta.db_table
ENTRIES = TokenTransaction._meta.db_table
LOTS = TokenLot._meta.db_table
ALLOCATIONS = TokenAllocation._meta.db_table
ENTRY_ROW = "(%s::uuid, %s::bigint, %s, %s, %s, %s, %s, %s::uuid, %s::bigint, %s::bigint)"
LOT_ROW = "(%s::uuid, %s::uuid, %s, %s::bigint, %s::timestamptz, %s::smallint, %s, %s)"


def ledger_credit(
    *, user_id: UUID, postings: Sequence[Posting], now: datetime | None = None
) -> list[TokenTransaction]:
    """Appends credits, each with a new lot (`posting.new_lot`), creating the account with
    the user's first credit.

    Raises IntegrityError for an idempotency key or reference the ledger already holds.
    Inside a caller's transaction a keyed credit takes a savepoint, which keeps that
    transaction usable; an unkeyed one's failure ends it on PostgreSQL (no caller recovers
    from one).
    """
    if not postings:
        return []
    if any(posting.new_lot is None for posting in postings):
        raise ValueError("Every credit creates a lot.")
    now = now or timezone.now()
    # Only a keyed credit's caller can recover from a unique violation (it answers the entry
    # the key made), so only then is a savepoint worth its two round trips.
    keyed = any(posting.entry.idempotency_key for posting in postings)
    with savepoint_if_nested() if keyed else nullcontext():
        if not is_postgresql():
            with transaction.atomic():
                return post(account_locked(user_id, create=True), postings, now=now)
        rows = _credit_postgresql(user_id, postings, now)
    appended = [
        stored_entry(
            entry_id=posting.entry_id,
            entry=posting.entry,
            account_id=account_id,
            number=number,
            balance_after=balance_after,
            now=now,
        )
        for posting, (account_id, number, balance_after) in zip(postings, rows, strict=True)
    ]
    metrics.ledger_appended(appended)
    return appended


def _credit_postgresql(user_id: UUID, postings: Sequence[Posting], now: datetime) -> list:
    """One statement: the account is created by the user's first credit (an upsert, so a
    racing first credit is no error) and moved by every other."""
    entries = [posting.entry for posting in postings]
    delta = sum(entry.amount for entry in entries)
    expiries = [p.new_lot.expires_at for p in postings if p.new_lot.expires_at]
    sql = f"""
WITH account AS (
    INSERT INTO {ACCOUNTS} AS a (id, user_id, balance, total_purchased, total_spent,
        entry_count, next_expiry_at, held, created_at, updated_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s::timestamptz, 0, %s, %s)
    ON CONFLICT (user_id) DO UPDATE
    SET balance = a.balance + excluded.balance,
        total_purchased = a.total_purchased + excluded.total_purchased,
        total_spent = a.total_spent + excluded.total_spent,
        entry_count = a.entry_count + excluded.entry_count,
        next_expiry_at = LEAST(a.next_expiry_at, excluded.next_expiry_at),
        updated_at = excluded.updated_at
    RETURNING id, balance, entry_count
),
new_entry (id, amount, transaction_type, reference_type, reference_id, description,
           idempotency_key, created_by_id, position, running) AS (
    VALUES {", ".join([ENTRY_ROW] * len(postings))}
),
new_lot (id, credit_id, category, amount, expires_at, priority, source_type, source_id) AS (
    VALUES {", ".join([LOT_ROW] * len(postings))}
),
entries AS (
    INSERT INTO {ENTRIES} (id, amount, transaction_type, reference_type, reference_id,
        description, idempotency_key, created_by_id, account_id, number, balance_after,
        created_at)
    SELECT e.id, e.amount, e.transaction_type, e.reference_type, e.reference_id,
           e.description, e.idempotency_key, e.created_by_id, account.id,
           account.entry_count - %s + e.position, account.balance - %s + e.running, %s
    FROM account CROSS JOIN new_entry AS e
    RETURNING account_id, number, balance_after
),
lots AS (
    INSERT INTO {LOTS} (id, account_id, category, amount, remaining, expires_at, priority,
        source_type, source_id, credit_id, created_at)
    SELECT l.id, account.id, l.category, l.amount, l.amount, l.expires_at, l.priority,
           l.source_type, l.source_id, l.credit_id, %s
    FROM account CROSS JOIN new_lot AS l
),
allocations AS (
    INSERT INTO {ALLOCATIONS} (entry_id, lot_id, amount)
    SELECT l.credit_id, l.id, l.amount FROM account CROSS JOIN new_lot AS l
)
SELECT account_id, number, balance_after FROM entries ORDER BY number
"""  # noqa: S608 (table names come from the models, values are parameters)
    parameters = [
        uuid.uuid4(),
        user_id,
        delta,
        sum(e.amount for e in entries if e.transaction_type in PURCHASED_TYPES),
        -sum(e.amount for e in entries if e.transaction_type in SPENT_TYPES),
        len(entries),
        min(expiries, default=None),
        now,
        now,
    ]
    running = 0
    for position, posting in enumerate(postings, start=1):
        entry = posting.entry
        running += entry.amount
        parameters += [
            posting.entry_id,
            entry.amount,
            entry.transaction_type,
            entry.reference_type,
            entry.reference_id,
            entry.description,
            entry.idempotency_key,
            entry.created_by_id,
            position,
            running,
        ]
    for posting in postings:
        lot = posting.new_lot
        parameters += [
            posting.lot_id,
            posting.entry_id,
            lot.category,
            posting.entry.amount,
            lot.expires_at,
            lot.priority,
            lot.source_type,
            lot.source_id,
        ]
    parameters += [len(entries), delta, now, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        return cursor.fetchall()
