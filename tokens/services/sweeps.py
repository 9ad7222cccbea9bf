"""What the expiry sweeps share: each account is swept on its own, so one they cannot finish
(its row held past the lock timeout, a statement cancelled) holds up no other."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar
from uuid import UUID

T = TypeVar("T")

logger = logging.getLogger(__name__)


class SweepIncomplete(Exception):
    """A sweep could not finish some accounts (each is logged with its traceback); it
    finished every other. `done` is what it did, as the sweep counts it."""

    def __init__(self, what: str, failed: list[UUID], done: object) -> None:
        names = ", ".join(str(account_id) for account_id in failed)
        super().__init__(f"Could not expire the {what} of {len(failed)} account(s): {names}")
        self.failed = failed
        self.done = done


def each_account(
    account_ids: Iterable[UUID], step: Callable[[UUID], T], *, what: str
) -> tuple[list[T], list[UUID]]:
    """Runs `step` (one transaction of its own) for each account; one that raises is logged
    with its traceback and the next goes on. Returns what the steps that succeeded returned,
    and the accounts that failed: the caller raises SweepIncomplete for them once it has
    counted what it did."""
    done, failed = [], []
    for account_id in account_ids:
        try:
            done.append(step(account_id))
        except Exception:  # logged with its traceback; the next account still runs
            logger.exception("The sweep could not expire the %s of account %s.", what, account_id)
            failed.append(account_id)
    return done, failed
