"""Holds: reserve tokens before long work, capture what it cost (once, or in steps with
`final: false`), release the rest. TigerBeetle's pending transfers are the model: a hold
counts against what is available at once; a capture may take less than the hold, never
more; a hold resolves once; it expires exactly at `expires_at`, never earlier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from common.db import atomic_step, in_all_or_nothing
from events.services import events_emit
from tokens.ledger import InsufficientTokens, account_locked, spendable
from tokens.ledger.holds import (
    ExceedsHold,
    HoldExpired,
    HoldNotActive,
    HoldNotYours,
    NoSuchHold,
    hold_refuse,
    hold_state,
    ledger_hold,
)
from tokens.models import Hold, TokenAccount
from tokens.services import notices
from tokens.services.alerts import balance_alerts
from tokens.services.ledger import LedgerKeyReused
from tokens.services.sweeps import SweepIncomplete, each_account

MAX_TTL_SECONDS = 86_400

__all__ = [
    "ExceedsHold",
    "HoldExpired",
    "HoldNotActive",
    "HoldNotYours",
    "Reservation",
]


@dataclass(frozen=True)
class Reservation:
    hold: Hold
    balance: int
    available: int


def hold_create(
    *,
    user_id: UUID,
    amount: int,
    ttl_seconds: int = 3600,
    feature: str = "",
    reference: str = "",
    idempotency_key: str = "",
) -> Reservation:
    """Reserves `amount` tokens until now + `ttl_seconds` (up to the next whole second), under
    the account's lock, if that many are available; under an unlimited plan the hold reserves
    nothing (its `source` says so). The same key again answers the first hold.

    Raises InsufficientTokens (nothing held), LedgerKeyReused for a key used for another hold.
    """
    try:
        with atomic_step():
            # Read inside the transaction: on SQLite its BEGIN waits for another writer's lock,
            # and the hold is judged and dated at the time that lock is granted.
            now = timezone.now()
            try:
                held = ledger_hold(
                    user_id=user_id,
                    amount=amount,
                    ttl=timedelta(seconds=ttl_seconds),
                    feature=feature,
                    reference=reference,
                    key=idempotency_key,
                    now=now,
                )
            except InsufficientTokens:
                # Too little is available now to get as far as the key's unique index: a
                # retry after the API's record is gone looks its hold up (the transaction is
                # still usable here, inside all_or_nothing() too).
                first = _made_before(user_id, idempotency_key, amount, feature, reference)
                if first is None:
                    raise
                return first
            if held.hold.source == Hold.Source.TOKENS:
                balance_alerts(
                    user_id=user_id,
                    threshold=held.threshold,
                    balance=(held.balance, held.balance),
                    available=(held.available + amount, held.available),
                )
            return Reservation(hold=held.hold, balance=held.balance, available=held.available)
    except IntegrityError:
        # Inside all_or_nothing() the transaction is broken: its caller answers.
        first = (
            None
            if in_all_or_nothing()
            else _made_before(user_id, idempotency_key, amount, feature, reference)
        )
        if first is None:
            raise
        return first


def _made_before(
    user_id: UUID, key: str, amount: int, feature: str, reference: str
) -> Reservation | None:
    """The hold made under `key` before, answered again with the balance as it is now; raises
    LedgerKeyReused when the body's fields the hold keeps differ (its `ttl_seconds` became a
    time, not comparable)."""
    if not key:
        return None
    first = Hold.objects.filter(account__user_id=user_id, idempotency_key=key).first()
    if first is None:
        return None
    if (first.amount, first.feature, first.reference) != (amount, feature, reference):
        raise LedgerKeyReused()
    with transaction.atomic():
        can = spendable(account_locked(user_id), now=timezone.now())
    return Reservation(hold=first, balance=can.balance, available=can.available)


MADE_FOR_THE_USER = ("service:", "staff:")


def hold_settler_check(hold: Hold, *, by_its_user: bool) -> None:
    """A hold a seller's service or staff made for a user (through /users/{user_id}/holds)
    is theirs to settle: its user, who could capture it for 1 token or release it and leave
    the work it reserved for unpaid, may not. Raises HoldNotYours."""
    if by_its_user and hold.idempotency_key.startswith(MADE_FOR_THE_USER):
        raise HoldNotYours()


def hold_release(*, user_id: UUID, hold_id: UUID, by_its_user: bool = False) -> Hold:
    """Ends an active hold; nothing is charged. `by_its_user`: the hold's user asks, who may
    not release a hold made for them (`hold_settler_check`). Raises NotFound, HoldNotYours,
    HoldExpired, InvalidState."""
    with transaction.atomic():
        account = account_locked(user_id)
        # Read once the lock is granted: a release that waited for it past the hold's expiry
        # finds the hold expired, as everyone who read the balance meanwhile did.
        now = timezone.now()
        hold = _locked(account, hold_id)
        hold_settler_check(hold, by_its_user=by_its_user)
        hold_refuse(hold_state(hold, 0, now), hold)
        _resolve(account, [hold], Hold.Status.RELEASED, now)
    return hold


def holds_expire(*, now: datetime | None = None) -> int:
    """Records every active hold past `expires_at` as expired (their tokens were available
    again from that instant). One short transaction per account; returns how many. An
    account it cannot finish (its row held past the lock timeout) is logged and left to the
    next run, and the others are recorded; then it raises SweepIncomplete naming them."""
    now = now or timezone.now()
    due = Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now)

    def record(account_id: UUID) -> int:
        with transaction.atomic():
            user_id = TokenAccount.objects.values_list("user_id", flat=True).get(pk=account_id)
            account = account_locked(user_id)
            holds = list(due.filter(account=account).select_for_update())
            _resolve(account, holds, Hold.Status.EXPIRED, now)
            events_emit([notices.hold_expired(hold, user_id=user_id) for hold in holds])
            return len(holds)

    account_ids = due.order_by("account_id").values_list("account_id", flat=True).distinct()
    expired, failed = each_account(list(account_ids), record, what="holds")
    if failed:
        raise SweepIncomplete("holds", failed, sum(expired))
    return sum(expired)


def _locked(account: TokenAccount | None, hold_id: UUID) -> Hold:
    if account is None:
        raise NoSuchHold()
    try:
        return Hold.objects.select_for_update().get(pk=hold_id, account=account)
    except Hold.DoesNotExist as error:
        raise NoSuchHold() from error


def _resolve(account: TokenAccount, holds: list[Hold], status: str, now: datetime) -> None:
    """Resolves holds of a locked account and gives their reservations back."""
    for hold in holds:
        hold.status, hold.resolved_at = status, now
    Hold.objects.bulk_update(holds, ["status", "resolved_at"])
    freed = sum(hold.uncaptured for hold in holds if hold.source == Hold.Source.TOKENS)
    active = Hold.objects.filter(account=account, status=Hold.Status.ACTIVE)
    account.held -= freed
    account.next_hold_expiry_at = active.aggregate(next=Min("expires_at"))["next"]
    account.save(update_fields=["held", "next_hold_expiry_at"])
