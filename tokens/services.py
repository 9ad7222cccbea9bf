"""Ledger services: credits, debits, usage refunds and staff adjustments.

Every one goes through tokens.ledger.ledger_append: one conditional UPDATE of the account and
the INSERT of its entries, atomically; no read-modify-save, never a negative balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from django.db import IntegrityError

from common.db import require_transaction
from common.errors import DomainError, Invalid, InvalidState, NotFound
from tokens.ledger import Entry, InsufficientTokens, ledger_append
from tokens.models import TokenAccount, TokenTransaction

Type = TokenTransaction.Type


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


def tokens_credit(
    *,
    user_id: UUID,
    amount: int,
    transaction_type: str,
    reference_type: str = "",
    reference_id: str = "",
    description: str = "",
    idempotency_key: str | None = None,
    created_by_id: UUID | None = None,
) -> TokenTransaction:
    """Adds `amount` (> 0) tokens. The same idempotency key again returns the first entry.

    Purchases, refunds and reversals must name what they refer to; the database refuses one
    without a reference, or a second one with the same reference.
    """
    if amount <= 0:
        raise ValueError("A credit is a positive amount.")
    return _append_once(
        user_id,
        Entry(
            amount=amount,
            transaction_type=transaction_type,
            reference_type=reference_type,
            reference_id=reference_id,
            description=description,
            idempotency_key=idempotency_key or "",
            created_by_id=created_by_id,
        ),
    )


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
    """Takes `amount` (> 0) tokens, never below zero.

    Raises InsufficientTokens and changes nothing when the balance is short. The same
    idempotency key again returns the first entry, even if the balance is short now.
    """
    if amount <= 0:
        raise ValueError("A debit is a positive amount.")
    return _append_once(
        user_id,
        Entry(
            amount=-amount,
            transaction_type=transaction_type,
            reference_type=reference_type,
            reference_id=reference_id,
            description=description,
            idempotency_key=idempotency_key or "",
            created_by_id=created_by_id,
        ),
    )


def usage_refund(
    *, transaction_id: UUID, actor_id: UUID | None, description: str = ""
) -> TokenTransaction:
    """Gives a usage debit back, once: the ledger's unique constraint on the refund's
    reference decides, so two racing refunds cannot both succeed.

    Raises NotFound, InvalidState for an entry that is not usage, UsageAlreadyRefunded.
    """
    try:
        usage = TokenTransaction.objects.select_related("account").get(pk=transaction_id)
    except TokenTransaction.DoesNotExist as error:
        raise NotFound("No ledger entry with this id.") from error
    if usage.transaction_type != Type.USAGE:
        raise InvalidState(
            f"Only usage can be refunded; this entry is a {usage.get_transaction_type_display()}."
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
        return ledger_append(user_id=usage.account.user_id, entries=[refund])[0]
    except IntegrityError as error:
        refunded = TokenTransaction.objects.filter(
            transaction_type=Type.REFUND,
            reference_type=refund.reference_type,
            reference_id=refund.reference_id,
        )
        if refunded.exists():
            raise UsageAlreadyRefunded() from error
        raise


def tokens_adjust(
    *,
    user_id: UUID,
    amount: int,
    reason: str,
    actor_id: UUID,
    idempotency_key: str | None = None,
) -> TokenTransaction:
    """A staff correction, positive or negative, recorded with who made it and why.

    Raises Invalid for a zero amount or a blank reason, AdjustmentBelowZero for a debit larger
    than the balance.
    """
    reason = reason.strip()
    if not reason:
        raise Invalid("reason", "A reason is required.")
    if amount == 0:
        raise Invalid("amount", "An adjustment cannot be 0.")
    entry = Entry(
        amount=amount,
        transaction_type=Type.ADJUSTMENT,
        description=reason,
        created_by_id=actor_id,
        idempotency_key=idempotency_key or "",
    )
    try:
        return _append_once(user_id, entry)
    except InsufficientTokens as error:
        raise AdjustmentBelowZero(balance=error.balance, needed=error.needed) from error


def _append_once(user_id: UUID, entry: Entry) -> TokenTransaction:
    """Appends one entry, or returns the entry its idempotency key already made."""
    try:
        return ledger_append(user_id=user_id, entries=[entry])[0]
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


class PurchasedTokens(Protocol):
    """A purchase as billing's signals describe it (billing.signals.PurchasedTokens)."""

    tokens: int
    reference_type: str
    reference_id: str
    description: str


class RefundedTokens(PurchasedTokens, Protocol):
    """A refunded purchase (billing.signals.RefundedTokens), told what was taken back."""

    def record_taken_back(self, tokens: int) -> None: ...


def purchases_credit(*, user_id: UUID, purchases: Sequence[PurchasedTokens]) -> None:
    """Tokens' part of a capture: one `purchase` entry per purchase, in one ledger append.

    Part of the capture's transaction. The ledger's unique reference refuses a second credit
    of the same purchase (IntegrityError), which rolls the capture back.
    """
    require_transaction("purchases_credit")
    ledger_append(
        user_id=user_id,
        entries=[
            Entry(
                amount=purchase.tokens,
                transaction_type=Type.PURCHASE,
                reference_type=purchase.reference_type,
                reference_id=purchase.reference_id,
                description=purchase.description,
            )
            for purchase in purchases
        ],
    )


def purchases_reverse(*, user_id: UUID, purchases: Sequence[RefundedTokens]) -> None:
    """Tokens' part of a refund: takes back each purchase's tokens that are still in the
    balance, with a `reversal` entry per purchase, never below zero, and tells each purchase
    how many it took back.

    Part of the refund's transaction, which has locked the purchases; the account is locked
    after them (the order a capture takes them in), so a refund and a consume cannot
    interleave.
    """
    require_transaction("purchases_reverse")
    account = TokenAccount.objects.select_for_update().filter(user_id=user_id)
    available = next(iter(account.values_list("balance", flat=True)), 0)
    entries = []
    for purchase in purchases:
        taken = min(purchase.tokens, available)
        available -= taken
        purchase.record_taken_back(taken)
        if taken:
            entries.append(
                Entry(
                    amount=-taken,
                    transaction_type=Type.REVERSAL,
                    reference_type=purchase.reference_type,
                    reference_id=purchase.reference_id,
                    description=purchase.description,
                )
            )
    ledger_append(user_id=user_id, entries=entries)
