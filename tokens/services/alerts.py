"""Balance alerts: `tokens.low_balance` when a change takes the balance from at or above the
user's threshold to below it (once per crossing: the next one needs the balance back above),
and `tokens.depleted` when what is available reaches 0. Emitted in the change's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from django.conf import settings
from django.db import transaction

from common.db import require_transaction
from common.errors import Invalid
from events.services import Notice, events_emit
from tokens.ledger import account_locked
from tokens.models import TokenAccount

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

MAX_THRESHOLD = 2_147_483_647


def threshold_of(own: int | None) -> int:
    """The user's own threshold, else the default (LOW_BALANCE_THRESHOLD); 0 means never."""
    return settings.LOW_BALANCE_THRESHOLD if own is None else own


def low_balance_crossed(threshold: int | None, *, before: int, after: int) -> bool:
    """Whether a change from `before` to `after` crosses the user's threshold downwards."""
    limit = threshold_of(threshold)
    return limit > 0 and before >= limit > after


def balance_alerts(
    *,
    user_id: UUID,
    threshold: int | None,
    balance: tuple[int, int],
    available: tuple[int, int],
    database: BaseDatabaseWrapper | None = None,
) -> None:
    """`balance` and `available` are (before, after) the change, as the user saw them. On
    `database`, the default connection the caller has already looked up, or looked up here."""
    require_transaction("balance_alerts", database)
    notices = []
    if low_balance_crossed(threshold, before=balance[0], after=balance[1]):
        notices.append(
            Notice(
                "tokens.low_balance",
                {
                    "user_id": str(user_id),
                    "balance": balance[1],
                    "threshold": threshold_of(threshold),
                },
            )
        )
    if available[0] > 0 and available[1] <= 0:
        notices.append(
            Notice(
                "tokens.depleted",
                {"user_id": str(user_id), "balance": balance[1], "available": available[1]},
            )
        )
    if notices:
        events_emit(notices)


def alerts_get(*, user_id: UUID) -> int | None:
    """The user's own threshold (None: the default)."""
    own = TokenAccount.objects.filter(user_id=user_id).values_list(
        "low_balance_threshold", flat=True
    )
    return next(iter(own), None)


def alerts_set(*, user_id: UUID, threshold: object) -> int | None:
    """Sets the user's threshold: a whole number 0..2147483647 (0: never), or None for the
    default. Raises Invalid naming `low_balance_threshold`."""
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int)
        or not 0 <= threshold <= MAX_THRESHOLD
    ):
        raise Invalid(
            "low_balance_threshold", f"A whole number from 0 to {MAX_THRESHOLD}, or null."
        )
    with transaction.atomic():
        account = account_locked(user_id, create=True)
        account.low_balance_threshold = threshold
        account.save(update_fields=["low_balance_threshold"])
    return threshold
