"""A hold and its capture as ledger writes, under the account's row lock.

PostgreSQL: one call each of `tokens_hold` and `tokens_capture` (tokens/migrations/0012), so
a hold or a capture costs the round trips of a usage. SQLite: the same steps in Python inside
the IMMEDIATE transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import F

from common.db import fetched, loaded
from common.errors import DomainError, InvalidState, NoSuchSubject
from tokens.ledger.core import (
    InsufficientTokens,
    account_locked,
    covered,
    is_postgresql,
    whole_second,
)
from tokens.ledger.debit import Taken, debit_appended, spendable
from tokens.ledger.usage import (
    Used,
    Work,
    charged_usage,
    covered_usage,
    ledger_use,
    usage_entry,
)
from tokens.ledger.waits import AccountInUse, once_the_account_is_ours
from tokens.models import Hold, TokenAccount


class HoldRefusal(InvalidState):
    """The hold's state refuses the change; `hold` is the hold as it is (a capture repeated
    after the hold resolved answers with it)."""

    def __init__(self, message: str, *, hold: Hold) -> None:
        super().__init__(message)
        self.hold = hold


class HoldNotActive(HoldRefusal):
    """Captured or released already (code `invalid_state`)."""


class ExceedsHold(HoldRefusal):
    code = "exceeds_hold"
    default_message = "This is more than the hold has left."


class HoldExpired(HoldRefusal):
    code = "hold_expired"
    default_message = "This hold has expired."


class NoSuchHold(NoSuchSubject):
    """The path names no hold of this user: the request asked nothing of its
    Idempotency-Key, which stays free for the corrected path."""

    default_message = "No hold with this id."


class HoldNotYours(DomainError):
    """A hold its user may see but not settle: a service key or staff made it for them."""

    code = "permission_denied"
    http_status = 403
    default_message = (
        "This hold was made for you by a service or by staff: only they can capture or release it."
    )


@dataclass(frozen=True)
class Held:
    """A new hold, and the balance and what is available after it (the account's threshold
    too, for the caller's alerts)."""

    hold: Hold
    balance: int
    available: int
    threshold: int | None


def ledger_hold(
    *,
    user_id: UUID,
    amount: int,
    ttl: timedelta,
    feature: str,
    reference: str,
    key: str,
    now: datetime,
) -> Held:
    """Reserves `amount` tokens until `ttl` after it is made (up to the next whole second) if
    that many are available; under an unlimited plan the hold reserves nothing (its `source`
    says so). Inside the caller's transaction.

    Raises InsufficientTokens (nothing held), IntegrityError for a key already used.
    """
    values = {
        "id": uuid.uuid4(),
        "amount": amount,
        "captured": 0,
        "status": Hold.Status.ACTIVE,
        "feature": feature,
        "reference": reference,
        "idempotency_key": key,
        "expires_at": whole_second(now + ttl),
        "resolved_at": None,
        "created_at": now,
    }
    if not is_postgresql():
        return _hold_python(user_id, Hold(**values), now)

    def hold(at: datetime) -> Held:
        # Made later than asked (it waited for the account), it still lasts `ttl`.
        made = {**values, "created_at": at, "expires_at": whole_second(at + ttl)}
        arguments = [user_id, amount, at, made["id"], made["expires_at"], feature, reference, key]
        rows = fetched("SELECT * FROM tokens_hold(%s, %s, %s, %s, %s, %s, %s, %s)", arguments)
        status, account_id, source, shown, available, threshold = rows[0]
        if status == "locked":
            raise AccountInUse()
        if status == "insufficient":
            raise InsufficientTokens(balance=shown, available=available, needed=amount)
        held = loaded(Hold, {**made, "account_id": account_id, "source": source})
        return Held(hold=held, balance=shown, available=available, threshold=threshold)

    return once_the_account_is_ours(user_id, now, hold)


def _hold_python(user_id: UUID, hold: Hold, now: datetime) -> Held:
    account = account_locked(user_id)
    if account is None:
        raise InsufficientTokens(balance=0, needed=hold.amount)
    can = spendable(account, now=now)
    free = covered(account, now=now)
    if not free and can.available < hold.amount:
        raise InsufficientTokens(balance=can.balance, available=can.available, needed=hold.amount)
    hold.account = account
    hold.source = Hold.Source.SUBSCRIPTION if free else Hold.Source.TOKENS
    hold.save(force_insert=True)
    threshold = account.low_balance_threshold
    if free:
        return Held(hold=hold, balance=can.balance, available=can.available, threshold=threshold)
    account.held += hold.amount
    soonest = account.next_hold_expiry_at or hold.expires_at
    account.next_hold_expiry_at = min(soonest, hold.expires_at)
    account.save(update_fields=["held", "next_hold_expiry_at"])
    return Held(
        hold=hold, balance=can.balance, available=can.available - hold.amount, threshold=threshold
    )


def ledger_capture(
    *, user_id: UUID, hold_id: UUID, amount: int, final: bool, usage_key: str, now: datetime
) -> tuple[Hold, Used]:
    """Charges `amount` of an active hold as usage, burning lots in the lot order now; `final`
    releases the rest and resolves the hold. If lots it counted on have gone since (expired,
    voided, taken back by a refund), so that the holds reserve more than the balance, it takes
    what the balance has, up to `amount` and never below zero (the usage's `charged` says
    what). Inside the caller's transaction.

    Raises NoSuchHold (another user's too); HoldExpired, HoldNotActive and ExceedsHold, each
    with `.hold` as it is; InsufficientTokens when nothing at all is left; IntegrityError for
    a usage key already used.
    """
    if not is_postgresql():
        return _capture_python(user_id, hold_id, amount, final, usage_key, now)
    usage_id, entry_id = uuid.uuid4(), uuid.uuid4()

    def capture(at: datetime) -> tuple[Hold, Used]:
        arguments = [user_id, hold_id, amount, final, at, usage_id, entry_id, usage_key]
        rows = fetched("SELECT * FROM tokens_capture(%s, %s, %s, %s, %s, %s, %s, %s)", arguments)
        status, account_id, number, balance_after, shown, available, threshold = rows[0][:7]
        if status == "locked":
            raise AccountInUse()
        if status == "not_found":
            raise NoSuchHold()
        (amount_held, captured, hold_status, source, feature, reference, key, expires_at) = rows[0][
            10:18
        ]
        hold = loaded(
            Hold,
            {
                "id": hold_id,
                "account_id": account_id,
                "amount": amount_held,
                "captured": captured,
                "status": hold_status,
                "source": source,
                "feature": feature,
                "reference": reference,
                "idempotency_key": key,
                "expires_at": expires_at,
                "resolved_at": rows[0][18],
                "created_at": rows[0][19],
            },
        )
        if status == "insufficient":
            raise InsufficientTokens(balance=shown, available=available, needed=amount)
        hold_refuse(status, hold, amount)
        work = Work(
            amount=amount,
            feature=feature,
            description=f"Capture of hold {hold_id}",
            reference=reference,
            usage_key=usage_key,
        )
        if status == "covered":
            return hold, Used(usage=covered_usage(usage_id, account_id, work, at, hold))
        debit = debit_appended(
            entry_id=entry_id,
            entry=usage_entry(work),
            taken=[Taken(row[7], row[8], row[9]) for row in rows],
            account_id=account_id,
            number=number,
            balance_after=balance_after,
            balances=(shown, available - _still_reserved(hold), threshold),
            now=at,
        )
        return hold, charged_usage(usage_id, work, debit, hold, at)

    return once_the_account_is_ours(user_id, now, capture)


def _still_reserved(hold: Hold) -> int:
    """What a hold reserves after its capture: the rest of a step's (`final: false`) hold.
    The debit counted the whole of the hold's reservation as its own to spend, so what it
    answers as available leaves this out until it is taken off."""
    if hold.source != Hold.Source.TOKENS or hold.status != Hold.Status.ACTIVE:
        return 0
    return hold.uncaptured


def hold_refuse(state: str, hold: Hold, amount: int = 0) -> None:
    """Raises the refusal `hold_state` named, if any."""
    if state == "expired":
        expired_at = f"{hold.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        raise HoldExpired(f"The hold expired at {expired_at}.", hold=hold)
    if state == "not_active":
        raise HoldNotActive(f"The hold is {hold.status}; it can no longer change.", hold=hold)
    if state == "exceeds":
        message = f"The hold has {hold.uncaptured} tokens left; this is {amount}."
        raise ExceedsHold(message, hold=hold)


def _capture_python(
    user_id: UUID, hold_id: UUID, amount: int, final: bool, usage_key: str, now: datetime
) -> tuple[Hold, Used]:
    account = account_locked(user_id)
    if account is None:
        raise NoSuchHold()
    try:
        hold = Hold.objects.select_for_update().get(pk=hold_id, account=account)
    except Hold.DoesNotExist as error:
        raise NoSuchHold() from error
    hold_refuse(hold_state(hold, amount, now), hold, amount)
    work = Work(
        amount=amount,
        feature=hold.feature,
        description=f"Capture of hold {hold.pk}",
        reference=hold.reference,
        usage_key=usage_key,
    )
    if hold.source == Hold.Source.SUBSCRIPTION:
        used = Used(usage=covered_usage(uuid.uuid4(), account.pk, work, now, hold))
        used.usage.save(force_insert=True)
    else:
        used = ledger_use(user_id=user_id, work=work, now=now, hold=hold, partial=True)
    released = hold.uncaptured - amount if final else 0
    hold.captured += amount
    if final or hold.captured == hold.amount:
        hold.status, hold.resolved_at = Hold.Status.CAPTURED, now
    hold.save(update_fields=["captured", "status", "resolved_at"])
    if hold.source == Hold.Source.TOKENS:
        TokenAccount.objects.filter(pk=account.pk).update(held=F("held") - amount - released)
        used = replace(used, available=used.available - _still_reserved(hold))
    return hold, used


def hold_state(hold: Hold, amount: int, now: datetime) -> str:
    """Whether `amount` may be captured from the hold now: "ok", or why not ("expired",
    "not_active", "exceeds"), in that order, as `tokens_capture` decides."""
    if hold.status == Hold.Status.EXPIRED or (
        hold.status == Hold.Status.ACTIVE and hold.expires_at <= now
    ):
        return "expired"
    if hold.status != Hold.Status.ACTIVE:
        return "not_active"
    if amount > hold.uncaptured:
        return "exceeds"
    return "ok"
