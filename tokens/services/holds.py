"""Holds: reserve tokens before long work, capture what it cost (once, or in steps with
`final: false`), release the rest. TigerBeetle's pending transfers are the model: a hold
counts against what is available at once; a capture may take less than the hold, never
more; a hold resolves once; it expires exactly at `expires_at`, never earlier."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from common.db import atomic_step, in_all_or_nothing
from events.services import events_emit
from tokens.ledger import InsufficientTokens, Used, account_locked, spendable, whole_second
from tokens.ledger.holds import (
    ExceedsHold,
    HoldExpired,
    HoldNotActive,
    HoldNotYours,
    HoldRefusal,
    NoSuchHold,
    hold_refuse,
    hold_state,
    ledger_capture,
    ledger_hold,
)
from tokens.models import Hold, TokenAccount, UsageRecord
from tokens.services import notices
from tokens.services.alerts import balance_alerts
from tokens.services.ledger import LedgerKeyReused
from tokens.services.sweeps import SweepIncomplete, each_account
from tokens.services.usage import usage_done_before

MAX_TTL_SECONDS = 86_400

__all__ = [
    "Capture",
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


@dataclass(frozen=True)
class Capture:
    hold: Hold
    used: Used


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
    now = timezone.now()
    try:
        with atomic_step():
            try:
                held = ledger_hold(
                    user_id=user_id,
                    amount=amount,
                    expires_at=whole_second(now + timedelta(seconds=ttl_seconds)),
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


def hold_capture(
    *,
    user_id: UUID,
    hold_id: UUID,
    amount: int,
    final: bool = True,
    idempotency_key: str = "",
    by_its_user: bool = False,
) -> Capture:
    """Charges `amount` of the hold as usage (see tokens.ledger.holds.ledger_capture). The
    same capture again, after the hold has resolved or with a step's key already used,
    answers the first one's usage, also when nothing is left to charge now; another amount
    or another `final` with that key is LedgerKeyReused. `by_its_user`: the hold's user
    asks, who may not settle a hold made for them (`hold_settler_check`).

    Raises NotFound (another user's hold too), HoldNotYours, HoldExpired, HoldNotActive,
    ExceedsHold for more than it has left, and InsufficientTokens (nothing changed, the hold
    still active) when the tokens it counted on are gone and nothing at all is left to take.
    """
    key = _capture_key(hold_id, idempotency_key)
    now = timezone.now()
    try:
        with atomic_step():
            try:
                hold, used = ledger_capture(
                    user_id=user_id,
                    hold_id=hold_id,
                    amount=amount,
                    final=final,
                    usage_key=key,
                    now=now,
                )
            except HoldRefusal as refusal:
                # Looked up inside the step: a refusal leaves its transaction usable, and
                # inside all_or_nothing() the step has no savepoint to leave by.
                hold_settler_check(refusal.hold, by_its_user=by_its_user)
                done = _captured_before(user_id, key, amount, final)
                if done is None:
                    raise
                return Capture(hold=refusal.hold, used=Used(usage=done))
            except InsufficientTokens:
                # Nothing left now to get as far as the usage key's unique index: a step sent
                # again after a short capture took the last tokens (its hold still active)
                # answers its usage, as a refusal's does (the transaction is usable here).
                if by_its_user:
                    hold_settler_check(Hold.objects.get(pk=hold_id), by_its_user=True)
                done = _captured_before(user_id, key, amount, final)
                if done is None:
                    raise
                return Capture(hold=Hold.objects.get(pk=hold_id), used=Used(usage=done))
            # Asked of the hold the capture answers, so the common case costs no read: one
            # this caller may not settle raises, and the step's capture is undone with it.
            hold_settler_check(hold, by_its_user=by_its_user)
            if used.balance is not None:
                balance_alerts(
                    user_id=user_id,
                    threshold=used.threshold,
                    balance=(used.balance + used.usage.charged, used.balance),
                    available=(0, 0),
                )
            return Capture(hold=hold, used=used)
    except IntegrityError:
        # Inside all_or_nothing() the transaction is broken: its caller answers.
        done = None if in_all_or_nothing() else _captured_before(user_id, key, amount, final)
        if done is None:
            raise
        hold = Hold.objects.get(pk=hold_id)
        hold_settler_check(hold, by_its_user=by_its_user)
        return Capture(hold=hold, used=Used(usage=done))


# The scopes of the callers who make holds for a user (tokens.api.views.usage.caller_scope):
# a hold's key starts with its maker's.
MADE_FOR_THE_USER = ("service:", "staff:")


def hold_settler_check(hold: Hold, *, by_its_user: bool) -> None:
    """A hold a seller's service or staff made for a user (through /users/{user_id}/holds)
    is theirs to settle: its user, who could capture it for 1 token or release it and leave
    the work it reserved for unpaid, may not. Raises HoldNotYours."""
    if by_its_user and hold.idempotency_key.startswith(MADE_FOR_THE_USER):
        raise HoldNotYours()


def _captured_before(user_id: UUID, key: str, amount: int, final: bool) -> UsageRecord | None:
    """The usage of the capture made under `key` before; raises LedgerKeyReused when it was
    for another amount or another `final` (the API's record, once purged, no longer tells)."""
    done = usage_done_before(user_id=user_id, key=key)
    if done is not None and (done.amount != amount or _was_final(done) not in (None, final)):
        raise LedgerKeyReused()
    return done


def _was_final(done: UsageRecord) -> bool | None:
    """Whether the capture that recorded `done` was final, as its hold tells: one that left
    the hold active (released or expired since, or captured by a later capture) was not; one
    that resolved it and gave back a rest was. None when the hold cannot tell: the capture
    took all it had left (final or not, the hold is captured), or another capture of the
    hold has the same instant."""
    hold = Hold.objects.get(pk=done.hold_id)
    if hold.status != Hold.Status.CAPTURED or hold.resolved_at != done.created_at:
        return False
    if hold.captured == hold.amount or hold.captures.filter(created_at=done.created_at).count() > 1:
        return None
    return True


def _capture_key(hold_id: UUID, idempotency_key: str) -> str:
    """The capture's usage key. A caller's key of up to 255 characters after a service's or a
    staff member's scope is longer than the column: such a key is kept as its digest (no
    scope starts with "sha256", so no shorter key becomes it)."""
    if not idempotency_key:
        return ""
    key = f"hold:{hold_id}:{idempotency_key}"
    if len(key) <= UsageRecord._meta.get_field("idempotency_key").max_length:
        return key
    return f"hold:{hold_id}:sha256:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


def hold_release(*, user_id: UUID, hold_id: UUID, by_its_user: bool = False) -> Hold:
    """Ends an active hold; nothing is charged. `by_its_user`: the hold's user asks, who may
    not release a hold made for them (`hold_settler_check`). Raises NotFound, HoldNotYours,
    HoldExpired, InvalidState."""
    now = timezone.now()
    with transaction.atomic():
        account = account_locked(user_id)
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
