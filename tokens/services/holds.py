"""Holds: reserve tokens before long work, capture what it cost (once, or in steps with
`final: false`), release the rest. TigerBeetle's pending transfers are the model: a hold
counts against what is available at once; a capture may take less than the hold, never
more; a hold resolves once; it expires exactly at `expires_at`, never earlier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils import timezone

from common.db import atomic_step, in_all_or_nothing, savepoint_if_nested
from common.errors import InvalidState, NotFound
from events.services import events_emit
from tokens.ledger import InsufficientTokens, Used, Work, account_locked, ledger_use, spendable
from tokens.models import Hold, TokenAccount, UsageRecord, UsageSource
from tokens.services import notices
from tokens.services.alerts import balance_alerts
from tokens.services.ledger import LedgerKeyReused
from tokens.services.usage import usage_done_before

MAX_TTL_SECONDS = 86_400


class ExceedsHold(InvalidState):
    code = "exceeds_hold"
    default_message = "This is more than the hold has left."


class HoldExpired(InvalidState):
    code = "hold_expired"
    default_message = "This hold has expired."


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
    """Reserves `amount` tokens until now + `ttl_seconds`, under the account's lock, if that
    many are available; under an unlimited plan the hold reserves nothing (its `source` says
    so). The same key again answers the first hold.

    Raises InsufficientTokens (nothing held), LedgerKeyReused for a key used for another hold.
    """
    now = timezone.now()
    try:
        with atomic_step():
            return _reserve(user_id, amount, ttl_seconds, feature, reference, idempotency_key, now)
    except IntegrityError:
        # Inside all_or_nothing() the transaction is broken: its caller answers.
        first = (
            Hold.objects.filter(account__user_id=user_id, idempotency_key=idempotency_key).first()
            if idempotency_key and not in_all_or_nothing()
            else None
        )
        if first is None:
            raise
        if (first.amount, first.feature) != (amount, feature):
            raise LedgerKeyReused() from None
        with transaction.atomic():
            can = spendable(account_locked(user_id), now=timezone.now())
        return Reservation(hold=first, balance=can.balance, available=can.available)


def _reserve(
    user_id: UUID,
    amount: int,
    ttl_seconds: int,
    feature: str,
    reference: str,
    key: str,
    now: datetime,
) -> Reservation:
    account = account_locked(user_id)
    if account is None:
        raise InsufficientTokens(balance=0, needed=amount)
    can = spendable(account, now=now)
    covered = account.unlimited_until is not None and account.unlimited_until > now
    if not covered and can.available < amount:
        raise InsufficientTokens(balance=can.balance, available=can.available, needed=amount)
    expires_at = now + timedelta(seconds=ttl_seconds)
    hold = Hold.objects.create(
        account=account,
        amount=amount,
        source=Hold.Source.SUBSCRIPTION if covered else Hold.Source.TOKENS,
        feature=feature,
        reference=reference,
        idempotency_key=key,
        expires_at=expires_at,
        created_at=now,
    )
    if covered:
        return Reservation(hold=hold, balance=can.balance, available=can.available)
    account.held += amount
    account.next_hold_expiry_at = min(account.next_hold_expiry_at or expires_at, expires_at)
    account.save(update_fields=["held", "next_hold_expiry_at"])
    balance_alerts(
        user_id=user_id,
        threshold=account.low_balance_threshold,
        balance=(can.balance, can.balance),
        available=(can.available, can.available - amount),
    )
    return Reservation(hold=hold, balance=can.balance, available=can.available - amount)


def hold_capture(
    *, user_id: UUID, hold_id: UUID, amount: int, final: bool = True, idempotency_key: str = ""
) -> Capture:
    """Charges `amount` of the hold as usage, burning lots in the lot order now; `final`
    releases the rest and resolves the hold. If lots it counted on have expired since, the
    capture takes what there is (the usage's `charged` says what it took), never below zero.

    Raises NotFound (another user's hold too), HoldExpired, InvalidState for a hold that is
    not active, ExceedsHold for more than it has left.
    """
    key = f"hold:{hold_id}:{idempotency_key}" if idempotency_key else ""
    now = timezone.now()
    with atomic_step():
        account = account_locked(user_id)
        hold = _locked(account, hold_id)
        try:
            _open(hold, now)
            if amount > hold.uncaptured:
                raise ExceedsHold(f"The hold has {hold.uncaptured} tokens left; this is {amount}.")
        except InvalidState:
            # The same capture again, after the hold has resolved: the first one's answer.
            done = usage_done_before(user_id=user_id, key=key)
            if done is None:
                raise
            return Capture(hold=hold, used=Used(usage=done))
        work = Work(
            amount=amount,
            feature=hold.feature,
            description=f"Capture of hold {hold.pk}",
            reference=hold.reference,
            usage_key=key,
        )
        try:
            used = _charge(user_id, account, hold, work, now)
        except IntegrityError:
            # The same step of a hold captured in steps again: its usage key is taken.
            done = None if in_all_or_nothing() else usage_done_before(user_id=user_id, key=key)
            if done is None:
                raise
            return Capture(hold=hold, used=Used(usage=done))
        released = hold.uncaptured - amount if final else 0
        hold.captured += amount
        if final or hold.captured == hold.amount:
            hold.status, hold.resolved_at = Hold.Status.CAPTURED, now
        hold.save(update_fields=["captured", "status", "resolved_at"])
        if hold.source == Hold.Source.TOKENS:
            TokenAccount.objects.filter(pk=account.pk).update(held=F("held") - amount - released)
    return Capture(hold=hold, used=used)


def _charge(user_id: UUID, account: TokenAccount, hold: Hold, work: Work, now: datetime) -> Used:
    if hold.source == Hold.Source.SUBSCRIPTION:
        with savepoint_if_nested():
            return Used(usage=_covered_capture(account, hold, work, now))
    used = ledger_use(user_id=user_id, work=work, now=now, hold=hold, partial=True)
    balance_alerts(
        user_id=user_id,
        threshold=used.threshold,
        balance=(used.balance + used.usage.charged, used.balance),
        available=(0, 0),
    )
    return used


def hold_release(*, user_id: UUID, hold_id: UUID) -> Hold:
    """Ends an active hold; nothing is charged. Raises NotFound, HoldExpired, InvalidState."""
    now = timezone.now()
    with transaction.atomic():
        account = account_locked(user_id)
        hold = _locked(account, hold_id)
        _open(hold, now)
        _resolve(account, [hold], Hold.Status.RELEASED, now)
    return hold


def holds_expire(*, now: datetime | None = None) -> int:
    """Records every active hold past `expires_at` as expired (their tokens were available
    again from that instant). One short transaction per account; returns how many."""
    now = now or timezone.now()
    expired = 0
    due = Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now)
    for account_id in due.order_by("account_id").values_list("account_id", flat=True).distinct():
        with transaction.atomic():
            user_id = TokenAccount.objects.values_list("user_id", flat=True).get(pk=account_id)
            account = account_locked(user_id)
            holds = list(due.filter(account=account).select_for_update())
            _resolve(account, holds, Hold.Status.EXPIRED, now)
            events_emit([notices.hold_expired(hold, user_id=user_id) for hold in holds])
            expired += len(holds)
    return expired


def _locked(account: TokenAccount | None, hold_id: UUID) -> Hold:
    if account is None:
        raise NotFound("No hold with this id.")
    try:
        return Hold.objects.select_for_update().get(pk=hold_id, account=account)
    except Hold.DoesNotExist as error:
        raise NotFound("No hold with this id.") from error


def _open(hold: Hold, now: datetime) -> None:
    if hold.status == Hold.Status.EXPIRED or (
        hold.status == Hold.Status.ACTIVE and hold.expires_at <= now
    ):
        raise HoldExpired(f"The hold expired at {hold.expires_at:%Y-%m-%dT%H:%M:%SZ}.")
    if hold.status != Hold.Status.ACTIVE:
        raise InvalidState(f"The hold is {hold.status}; it can no longer change.")


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


def _covered_capture(account: TokenAccount, hold: Hold, work: Work, now: datetime) -> UsageRecord:
    return UsageRecord.objects.create(
        account=account,
        amount=work.amount,
        charged=0,
        source=UsageSource.SUBSCRIPTION,
        feature=work.feature,
        description=work.description,
        reference=work.reference,
        hold=hold,
        idempotency_key=work.usage_key,
        created_at=now,
    )
