"""A ledger function called while another writer holds the account: it does nothing, and the
call is made again once the caller holds the account's lock, at the time read then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from django.utils import timezone

from common.db import atomic_if_needed
from tokens.ledger.core import account_locked

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

R = TypeVar("R")


class AccountInUse(Exception):
    """A ledger function found the account's row locked by another writer and did nothing
    (its answer `locked`, tokens/migrations/0024)."""


def once_the_account_is_ours(
    user_id: UUID,
    now: datetime,
    write: Callable[[datetime], R],
    database: BaseDatabaseWrapper | None = None,
) -> R:
    """`write(now)`: one call of a ledger function that takes the account's row lock only if
    it is free. When another writer holds it (AccountInUse), the lock is taken here, waiting
    for that writer, and `write` runs again at the time read once it is granted.

    The functions decide at the time they are given: one that waited inside for the lock
    spent a lot that expired meanwhile (or counted it for a hold), although every balance
    read during the wait had shown it gone. The common case costs nothing more; a wait, two
    statements (and a transaction of its own outside one)."""
    try:
        return write(now)
    except AccountInUse:
        with atomic_if_needed(database):
            account_locked(user_id)
            return write(timezone.now())
