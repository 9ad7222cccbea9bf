"""Balances as the user sees them: tokens of lots that have not expired, by category, and what
expires soon. Expired tokens leave the balance at their instant, whether or not the sweep has
booked them yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, Q, Sum
from django.utils import timezone

from common.db import aware_time, database_time, fetched
from tokens.models import Hold, LotCategory, TokenAccount

EXPIRING_WITHIN = timedelta(days=30)
EXPIRING_LISTED = 5
# Django computes an enum's values on every access: once here, not on every balance read.
CATEGORIES = tuple(LotCategory.values)


@dataclass(frozen=True)
class Expiring:
    amount: int
    expires_at: datetime


@dataclass(frozen=True)
class Balance:
    balance: int
    total_purchased: int
    total_spent: int
    updated_at: datetime | None
    held: int = 0
    by_category: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    expiring: list[Expiring] = field(default_factory=list)

    @property
    def available(self) -> int:
        """The balance less what active holds reserve, as the API answers it: below 0 when
        lots expired (or were voided or taken back) under the holds (docs/api.md)."""
        return self.balance - self.held

    @property
    def short(self) -> int:
        """What active holds reserve beyond the balance; 0 when it covers them. Their
        captures are charged only what is left, so a page shows nothing available, not a
        negative number of tokens."""
        return max(self.held - self.balance, 0)


def unexpired(now: datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": now})


# On every balance read, so plain SQL (building the ORM's query was a third of the request):
# the account joined to its lots that hold unexpired tokens, a row per lot.
_BALANCE_SQL = """
SELECT a.total_purchased, a.total_spent, a.updated_at, a.held, a.next_hold_expiry_at, a.id,
       l.category, l.remaining, l.expires_at
FROM tokens_tokenaccount a
LEFT JOIN tokens_tokenlot l
    ON l.account_id = a.id AND l.remaining > 0 AND (l.expires_at IS NULL OR l.expires_at > %s)
WHERE a.user_id = %s
"""


def token_balance(*, user_id: UUID, now: datetime | None = None) -> Balance:
    """Zeros for a user who never had tokens (no account is created by reading). One query:
    the account joined to its lots that hold unexpired tokens, a row per lot (and one more
    when a hold may have expired since the sweep last ran)."""
    now = now or timezone.now()
    # The connection looked up once: each use of django.db.connection looks it up again in
    # the thread's connections, 2 % of a balance request's instructions for four uses.
    connection = connections[DEFAULT_DB_ALIAS]
    rows = fetched(
        _BALANCE_SQL,
        [
            database_time(now, connection),
            TokenAccount._meta.get_field("user").get_db_prep_value(user_id, connection),
        ],
        connection,
    )
    if not rows:
        return Balance(balance=0, total_purchased=0, total_spent=0, updated_at=None)
    by_category = dict.fromkeys(CATEGORIES, 0)
    soon = []
    for *_, category, remaining, expires_at in rows:
        if category is None:
            continue
        by_category[category] += remaining
        expires_at = aware_time(expires_at)
        if expires_at is not None and expires_at <= now + EXPIRING_WITHIN:
            soon.append(Expiring(amount=remaining, expires_at=expires_at))
    soon.sort(key=lambda expiring: expiring.expires_at)
    total_purchased, total_spent, updated_at, held, next_hold_expiry_at, account_id = rows[0][:6]
    next_hold_expiry_at = aware_time(next_hold_expiry_at)
    if next_hold_expiry_at is not None and next_hold_expiry_at <= now:
        held = _held(account_id, now)
    return Balance(
        balance=sum(by_category.values()),
        total_purchased=total_purchased,
        total_spent=total_spent,
        updated_at=aware_time(updated_at),
        held=held,
        by_category=by_category,
        expiring=soon[:EXPIRING_LISTED],
    )


def _held(account_id: UUID, now: datetime) -> int:
    """What holds that have not expired reserve, when one may have expired unswept."""
    holds = Hold.objects.filter(
        account_id=account_id,
        status=Hold.Status.ACTIVE,
        source=Hold.Source.TOKENS,
        expires_at__gt=now,
    )
    return holds.aggregate(total=Sum(F("amount") - F("captured")))["total"] or 0
