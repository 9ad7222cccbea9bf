"""A hold's capture: what the work cost, taken once, or in steps with `final: false`, never
more than the hold reserved; the rest is released with the last step."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError
from django.utils import timezone

from common.db import atomic_step, in_all_or_nothing
from tokens.ledger import InsufficientTokens, Used
from tokens.ledger.holds import HoldRefusal, ledger_capture
from tokens.models import Hold, UsageRecord
from tokens.services.alerts import balance_alerts
from tokens.services.holds import hold_settler_check
from tokens.services.ledger import LedgerKeyReused
from tokens.services.usage import usage_done_before


@dataclass(frozen=True)
class Capture:
    hold: Hold
    used: Used


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
    try:
        with atomic_step():
            # Read inside the transaction: on SQLite its BEGIN waits for another writer's lock,
            # and the hold's expiry is judged at the time that lock is granted.
            now = timezone.now()
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
