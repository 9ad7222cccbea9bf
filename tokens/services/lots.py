"""Lots given by hand or by rule: staff grants and voids, the sign-up trial, a plan's included
tokens (the sweeps are in tokens.services.expiry)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import require_transaction
from common.errors import Invalid, InvalidState, NotFound
from tokens.ledger import Entry, LotChange, LotSpec, Posting, account_locked, post, spendable
from tokens.models import LotCategory, TokenLot, TokenTransaction
from tokens.services.alerts import balance_alerts
from tokens.services.ledger import LOT_REFERENCE, LedgerKeyReused, tokens_credit

Type = TokenTransaction.Type
GRANTABLE = (LotCategory.PROMOTIONAL, LotCategory.TRIAL, LotCategory.INCLUDED)
MAX_GRANT = 1_000_000_000
# The latest expiry a lot can have. A lot's expiry is rounded up to the whole second after it
# (LotSpec), and there is no second after this one in Python's calendar.
LATEST_EXPIRY = datetime.max.replace(microsecond=0, tzinfo=UTC)
NOT_IN_THE_FUTURE = "Must be in the future."


def lot_grant(
    *,
    user_id: UUID,
    amount: int,
    category: str,
    reason: str,
    actor_id: UUID | None,
    expires_at: datetime | None = None,
    priority: int = 50,
    idempotency_key: str | None = None,
) -> TokenLot:
    """Staff give free tokens: a lot of `category` and its `grant` entry.

    Raises Invalid naming the field: amount not 1..1e9, a category other than promotional,
    trial or included (paid tokens come from purchases), `expires_at` not in the future or
    after LATEST_EXPIRY, priority outside 0..100, a blank reason; LedgerKeyReused for a
    key that made another grant.
    """
    reason = reason.strip()
    if not 0 < amount <= MAX_GRANT:
        raise Invalid("amount", f"Must be a whole number from 1 to {MAX_GRANT}.")
    if category not in GRANTABLE:
        raise Invalid("category", f"Must be one of {', '.join(GRANTABLE)}.")
    refusal = grant_expiry_refusal(expires_at)
    # A retry of a grant made with this key, whose lot has expired since, answers it.
    if refusal == NOT_IN_THE_FUTURE and idempotency_key and _granted_with(user_id, idempotency_key):
        refusal = None
    if refusal:
        raise Invalid("expires_at", refusal)
    if not 0 <= priority <= 100:
        raise Invalid("priority", "Must be from 0 to 100.")
    if not reason:
        raise Invalid("reason", "A reason is required.")
    spec = LotSpec(category=category, expires_at=expires_at, priority=priority, source_type="grant")
    entry = tokens_credit(
        user_id=user_id,
        amount=amount,
        transaction_type=Type.GRANT,
        lot=spec,
        description=reason,
        idempotency_key=idempotency_key,
        created_by_id=actor_id,
    )
    lot = TokenLot.objects.get(credit=entry)
    # The key may have made another lot (the ledger compares amount and type only): the
    # same key with another category, expiry, priority or reason is another grant.
    if (lot.category, lot.expires_at, lot.priority, entry.description) != (
        spec.category,
        spec.expires_at,
        spec.priority,
        reason,
    ):
        raise LedgerKeyReused()
    return lot


def grant_expiry_refusal(expires_at: datetime | None) -> str | None:
    """Why a grant may not expire at `expires_at` (None: it may). The API asks it also when
    other fields of a grant are refused (such a body is no retry of a grant made), so that
    one answer names them all."""
    if expires_at is not None and expires_at > LATEST_EXPIRY:
        return "Must be no later than 9999-12-31T23:59:59Z."
    if expires_at is not None and expires_at <= timezone.now():
        return NOT_IN_THE_FUTURE
    return None


def _granted_with(user_id: UUID, idempotency_key: str) -> bool:
    return TokenTransaction.objects.filter(
        account__user_id=user_id, idempotency_key=idempotency_key
    ).exists()


def trial_grant(*, user_id: UUID) -> TokenTransaction | None:
    """The sign-up trial: TRIAL_TOKENS (0 disables) expiring after TRIAL_DAYS, once per user
    (the ledger key `trial` is unique per account)."""
    if settings.TRIAL_TOKENS <= 0:
        return None
    return tokens_credit(
        user_id=user_id,
        amount=settings.TRIAL_TOKENS,
        transaction_type=Type.GRANT,
        lot=LotSpec(
            category=LotCategory.TRIAL,
            expires_at=timezone.now() + timedelta(days=settings.TRIAL_DAYS),
            source_type="trial",
        ),
        description="Free trial",
        idempotency_key="trial",
    )


def included_grant(
    *, user_id: UUID, tokens: int, expires_at: datetime | None, reference: str, description: str
) -> TokenTransaction:
    """A plan's tokens for one paid period, expiring when the period ends; once per period
    (`reference` names the subscription and period, and is the entry's ledger key)."""
    require_transaction("included_grant")
    return tokens_credit(
        user_id=user_id,
        amount=tokens,
        transaction_type=Type.GRANT,
        lot=LotSpec(
            category=LotCategory.INCLUDED,
            expires_at=expires_at,
            source_type="subscription",
            source_id=reference,
        ),
        description=description,
        idempotency_key=f"included:{reference}",
    )


@dataclass(frozen=True)
class LotVoided:
    """What a void did: the lot as it is after it, and the tokens it took, as read under the
    account's lock. A page that read the lot before the void may have seen more left than the
    void took, when a debit landed in between."""

    lot: TokenLot
    amount: int


def lot_void(*, lot_id: UUID, reason: str, actor_id: UUID | None) -> LotVoided:
    """Takes what is left of a lot away (a `void` entry of -remaining), once, and says how
    many tokens that was.

    Raises NotFound, Invalid for a blank reason, InvalidState for a lot that has expired or
    has nothing left.
    """
    reason = reason.strip()
    if not reason:
        raise Invalid("reason", "A reason is required.")
    owner = TokenLot.objects.filter(pk=lot_id).values_list("account__user_id", flat=True)
    user_id = next(iter(owner), None)
    if user_id is None:
        raise NotFound("No lot with this id.")
    with transaction.atomic():
        account = account_locked(user_id)
        # Read once the lock is granted: a void that waited for it past the lot's expiry
        # finds the lot expired, as everyone who read the balance meanwhile did.
        now = timezone.now()
        lot = TokenLot.objects.get(pk=lot_id)
        if lot.is_expired(now):
            raise InvalidState("This lot has expired; there is nothing to void.")
        if lot.voided_at is not None:
            raise InvalidState("This lot is voided already; there is nothing to void.")
        if lot.remaining == 0:
            raise InvalidState("This lot is spent; there is nothing to void.")
        before = spendable(account, now=now)
        post(
            account,
            [
                Posting(
                    entry=Entry(
                        amount=-lot.remaining,
                        transaction_type=Type.VOID,
                        reference_type=LOT_REFERENCE,
                        reference_id=str(lot.pk),
                        description=reason,
                        created_by_id=actor_id,
                    ),
                    changes=(LotChange(lot_id=lot.pk, amount=-lot.remaining),),
                )
            ],
            now=now,
        )
        TokenLot.objects.filter(pk=lot.pk).update(voided_at=now)
        balance_alerts(
            user_id=user_id,
            threshold=account.low_balance_threshold,
            balance=(before.balance, before.balance - lot.remaining),
            available=(before.available, before.available - lot.remaining),
        )
    voided = lot.remaining
    lot.refresh_from_db()
    return LotVoided(lot=lot, amount=voided)
