"""Credits, debits, usage refunds and staff adjustments.

Each goes through tokens.ledger: a credit creates the lot that holds its tokens, a debit burns
lots in the burn order, a refund gives tokens back to the lots its usage took them from.
"""

from __future__ import annotations

from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from common.db import atomic_if_needed
from common.errors import DomainError, Invalid, InvalidState, NotFound
from events.services import events_emit
from tokens.ledger import (
    Entry,
    InsufficientTokens,
    LotChange,
    LotSpec,
    Posting,
    account_locked,
    ledger_credit,
    ledger_debit,
    post,
)
from tokens.models import LotCategory, TokenAllocation, TokenLot, TokenTransaction, UsageRecord
from tokens.services import notices
from tokens.services.alerts import balance_alerts

Type = TokenTransaction.Type
LOT_REFERENCE = "lot"
# The lot a credit of each type creates unless the caller says otherwise.
DEFAULT_CATEGORY = {
    Type.PURCHASE: LotCategory.PAID,
    Type.ADJUSTMENT: LotCategory.PROMOTIONAL,
    Type.GRANT: LotCategory.PROMOTIONAL,
}


class AdjustmentBelowZero(InsufficientTokens):
    """A staff debit larger than the balance: a conflict with the account's state."""

    http_status = 409


class UsageAlreadyRefunded(InvalidState):
    code = "already_refunded"
    default_message = "This usage has already been refunded."


class LedgerKeyReused(DomainError):
    code = "idempotency_key_reused"
    http_status = 422
    default_message = "This idempotency key was used for a different ledger entry."
    # The key belongs to other work: kept as the key's answer, it would refuse that work's
    # own retry for a day.
    answers_key = False


def tokens_credit(
    *,
    user_id: UUID,
    amount: int,
    transaction_type: str,
    lot: LotSpec | None = None,
    reference_type: str = "",
    reference_id: str = "",
    description: str = "",
    idempotency_key: str | None = None,
    created_by_id: UUID | None = None,
) -> TokenTransaction:
    """Adds `amount` (> 0) tokens in a new lot (by default a paid lot for a purchase, else a
    promotional one that never expires). The same idempotency key again returns the first
    entry. Purchases must name what they refer to; the database refuses a second credit of
    the same reference.
    """
    if amount <= 0:
        raise ValueError("A credit is a positive amount.")
    entry = Entry(
        amount=amount,
        transaction_type=transaction_type,
        reference_type=reference_type,
        reference_id=reference_id,
        description=description,
        idempotency_key=idempotency_key or "",
        created_by_id=created_by_id,
    )
    lot = lot or LotSpec(category=DEFAULT_CATEGORY[transaction_type], source_type=transaction_type)
    posting = Posting(entry=entry, new_lot=lot)
    return _once(user_id, entry, lambda: ledger_credit(user_id=user_id, postings=[posting])[0])


def tokens_debit(
    *,
    user_id: UUID,
    amount: int,
    transaction_type: str = Type.USAGE,
    reference_type: str = "",
    reference_id: str = "",
    description: str = "",
    idempotency_key: str | None = None,
    created_by_id: UUID | None = None,
) -> TokenTransaction:
    """Takes `amount` (> 0) tokens from the lots in the burn order, never more than available.

    Raises InsufficientTokens and changes nothing when they are short. The same idempotency
    key again returns the first entry, even if the balance is short now.
    """
    if amount <= 0:
        raise ValueError("A debit is a positive amount.")
    entry = Entry(
        amount=-amount,
        transaction_type=transaction_type,
        reference_type=reference_type,
        reference_id=reference_id,
        description=description,
        idempotency_key=idempotency_key or "",
        created_by_id=created_by_id,
    )

    def debit() -> TokenTransaction:
        with atomic_if_needed():
            done = ledger_debit(user_id=user_id, entry=entry)
            balance_alerts(
                user_id=user_id,
                threshold=done.threshold,
                balance=(done.balance + done.amount, done.balance),
                available=(done.available + done.amount, done.available),
            )
            return done.entry

    return _once(user_id, entry, debit)


def usage_refund(
    *, transaction_id: UUID, actor_id: UUID | None, description: str = ""
) -> TokenTransaction:
    """Gives a usage debit back to the lots it took from, once: the ledger's unique constraint
    on the refund's reference decides, so two racing refunds cannot both succeed. Tokens that
    return to a lot that has expired since expire again at once (an `expiration` entry).

    Raises NotFound, InvalidState for an entry that is not usage, UsageAlreadyRefunded.
    """
    try:
        usage = TokenTransaction.objects.select_related("account").get(pk=transaction_id)
    except TokenTransaction.DoesNotExist as error:
        raise NotFound("No ledger entry with this id.") from error
    if usage.transaction_type != Type.USAGE:
        raise InvalidState(
            f"Only usage can be refunded; this entry is of type {usage.transaction_type}."
        )
    refund = Entry(
        amount=-usage.amount,
        transaction_type=Type.REFUND,
        reference_type="token_transaction",
        reference_id=str(usage.id),
        description=description or f"Refund of usage {usage.id}",
        created_by_id=actor_id,
    )
    try:
        with transaction.atomic():
            given = tokens_give_back(user_id=usage.account.user_id, debit=usage, entry=refund)
            records = UsageRecord.objects.filter(entry=usage, refunded_at__isnull=True)
            record = records.order_by("pk").first()
            if record is not None:
                records.update(refunded_at=given.created_at)
                events_emit([notices.usage_refunded(record, user_id=usage.account.user_id)])
            return given
    except IntegrityError as error:
        refunded = TokenTransaction.objects.filter(
            transaction_type=Type.REFUND,
            reference_type=refund.reference_type,
            reference_id=refund.reference_id,
        )
        if refunded.exists():
            raise UsageAlreadyRefunded() from error
        raise


def tokens_give_back(*, user_id: UUID, debit: TokenTransaction, entry: Entry) -> TokenTransaction:
    """Appends `entry`, a credit of what `debit` took, to the very lots it took it from; what
    lands in a lot that has expired or was voided since is taken away again at once (an
    `expiration` entry with its `lot.expired` event, or a `void` entry). Inside the caller's
    transaction."""
    account = account_locked(user_id)
    # Read once the lock is granted: a refund that waited for it past a lot's expiry finds
    # the lot expired, and what it gives back there expires again at once.
    now = timezone.now()
    taken = list(TokenAllocation.objects.filter(entry=debit).select_related("lot"))
    postings = [
        Posting(
            entry=entry,
            changes=tuple(LotChange(lot_id=a.lot_id, amount=-a.amount) for a in taken),
        )
    ]
    closed = [a for a in taken if a.lot.voided_at or a.lot.is_expired(now)]
    postings += [_closed_again(a.lot, -a.amount, now) for a in closed]
    appended = post(account, postings, now=now)
    expired = [a for a in closed if a.lot.is_expired(now)]
    TokenLot.objects.filter(pk__in=[a.lot_id for a in expired]).update(expired_at=now)
    # Expired as the sweep expires a lot, and told as it tells it.
    events_emit([notices.lot_expired(a.lot, user_id=user_id, tokens=-a.amount) for a in expired])
    return appended[0]


def _closed_again(lot: TokenLot, given: int, now) -> Posting:
    """What lands in a closed lot leaves again at once: by expiry once its time has come (so no
    entry takes from a lot after it expired other than its expiration), else by a void."""
    expired = lot.is_expired(now)
    return Posting(
        entry=Entry(
            amount=-given,
            transaction_type=Type.EXPIRATION if expired else Type.VOID,
            reference_type=LOT_REFERENCE,
            reference_id=str(lot.pk),
            description=f"{'Expired' if expired else 'Voided'}: given back to a closed lot",
        ),
        changes=(LotChange(lot_id=lot.pk, amount=-given),),
    )


def tokens_adjust(
    *,
    user_id: UUID,
    amount: int,
    reason: str,
    actor_id: UUID,
    idempotency_key: str | None = None,
) -> TokenTransaction:
    """A staff correction, recorded with who made it and why: a positive one is a promotional
    lot that never expires; a negative one burns lots like a debit.

    Raises Invalid for a zero amount or a blank reason, AdjustmentBelowZero for a debit larger
    than the available tokens, LedgerKeyReused for a key that made another adjustment.
    """
    reason = reason.strip()
    if not reason:
        raise Invalid("reason", "A reason is required.")
    if amount == 0:
        raise Invalid("amount", "An adjustment cannot be 0.")
    fields = {
        "user_id": user_id,
        "amount": abs(amount),
        "transaction_type": Type.ADJUSTMENT,
        "description": reason,
        "created_by_id": actor_id,
        "idempotency_key": idempotency_key,
    }
    try:
        entry = tokens_credit(**fields) if amount > 0 else tokens_debit(**fields)
    except InsufficientTokens as error:
        raise AdjustmentBelowZero(
            balance=error.balance, needed=error.needed, available=error.available
        ) from error
    # The key may have made an adjustment for another reason (the ledger compares amount and
    # type only): answering it would record the new reason nowhere.
    if entry.description != reason:
        raise LedgerKeyReused()
    return entry


def _once(user_id: UUID, entry: Entry, append) -> TokenTransaction:
    """Appends an entry, or returns the entry its idempotency key already made."""
    try:
        return append()
    except (IntegrityError, InsufficientTokens):
        if not entry.idempotency_key:
            raise
        first = (
            TokenTransaction.objects.filter(
                account__user_id=user_id, idempotency_key=entry.idempotency_key
            )
            .order_by("number")
            .first()
        )
        if first is None:
            raise
        if (first.amount, first.transaction_type) != (entry.amount, entry.transaction_type):
            raise LedgerKeyReused() from None
        return first
