"""Tokens' part of a capture and of a refund (billing.signals' receivers call these)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from django.db.models import Sum
from django.utils import timezone

from common.db import require_transaction
from tokens.ledger import (
    Entry,
    LotChange,
    LotSpec,
    Posting,
    account_locked,
    ledger_credit,
    post,
    spendable,
)
from tokens.models import LotCategory, TokenAllocation, TokenLot, TokenTransaction
from tokens.services.alerts import balance_alerts
from tokens.services.ledger import LOT_REFERENCE

Type = TokenTransaction.Type


class PurchasedTokens(Protocol):
    """A purchase as billing's signals describe it (billing.signals.PurchasedTokens)."""

    tokens: int
    reference_type: str
    reference_id: str
    description: str
    expires_at: datetime | None


class RefundedTokens(Protocol):
    """A refunded purchase (billing.signals.RefundedTokens), told what was taken back."""

    tokens: int
    reference_type: str
    reference_id: str
    description: str

    def record_taken_back(self, tokens: int, *, voided: int = 0) -> None: ...


def purchases_credit(*, user_id: UUID, purchases: Sequence[PurchasedTokens]) -> None:
    """One `purchase` entry and one paid lot per purchase, in one ledger write; the lot is the
    purchase's (its source), so a refund finds it again.

    Part of the capture's transaction. The ledger's unique reference refuses a second credit
    of the same purchase (IntegrityError), which rolls the capture back.
    """
    require_transaction("purchases_credit")
    ledger_credit(
        user_id=user_id,
        postings=[
            Posting(
                entry=Entry(
                    amount=purchase.tokens,
                    transaction_type=Type.PURCHASE,
                    reference_type=purchase.reference_type,
                    reference_id=purchase.reference_id,
                    description=purchase.description,
                ),
                new_lot=LotSpec(
                    category=LotCategory.PAID,
                    expires_at=purchase.expires_at,
                    source_type=purchase.reference_type,
                    source_id=purchase.reference_id,
                ),
            )
            for purchase in purchases
        ],
    )


def purchases_reverse(*, user_id: UUID, purchases: Sequence[RefundedTokens]) -> None:
    """Takes back what is left of each refunded item's own lot, never other tokens (an entry
    per item), and tells each item how many it took back and how many voids had taken
    before; the rest was spent or has expired.
    The lots are closed (`voided_at`), spent ones too.

    Part of the refund's transaction, which has locked the purchases; the account is locked
    after them (the order a capture takes them in).
    """
    require_transaction("purchases_reverse")
    account = account_locked(user_id)
    # Read once the lock is granted: a refund that waited for it past a lot's expiry finds
    # its tokens expired, as everyone who read the balance meanwhile did.
    now = timezone.now()
    before = spendable(account, now=now) if account else None
    lots = {
        (lot.source_type, lot.source_id): lot
        for lot in TokenLot.objects.filter(
            account=account,
            source_type__in={purchase.reference_type for purchase in purchases},
            source_id__in=[purchase.reference_id for purchase in purchases],
        )
    }
    voided = _voided(lots.values())
    postings = []
    for purchase in purchases:
        lot = lots.get((purchase.reference_type, purchase.reference_id))
        taken = 0 if lot is None or lot.is_expired(now) else lot.remaining
        purchase.record_taken_back(taken, voided=voided.get(lot.pk, 0) if lot else 0)
        if taken:
            postings.append(
                Posting(
                    entry=_take_back_entry(purchase, lot, taken),
                    changes=(LotChange(lot_id=lot.pk, amount=-taken),),
                )
            )
    if postings:
        post(account, postings, now=now)
        taken = -sum(posting.entry.amount for posting in postings)
        balance_alerts(
            user_id=user_id,
            threshold=account.low_balance_threshold,
            balance=(before.balance, before.balance - taken),
            available=(before.available, before.available - taken),
        )
    # Every refunded item's lot is closed, also one already spent: the money for all of it
    # went back, so tokens a usage refund later gives back to it leave again at once.
    closed = [lot.pk for lot in lots.values() if not lot.is_expired(now)]
    TokenLot.objects.filter(pk__in=closed, voided_at__isnull=True).update(voided_at=now)


def _voided(lots: Iterable[TokenLot]) -> dict[UUID, int]:
    """What voids took from each of `lots` (staff's, and the voids of tokens a usage refund
    gave back to a voided lot): tokens that were never spent, one query."""
    voids = (
        TokenAllocation.objects.filter(lot__in=list(lots), entry__transaction_type=Type.VOID)
        .values("lot")
        .annotate(taken=Sum("amount"))
        .values_list("lot", "taken")
    )
    return {lot_id: -taken for lot_id, taken in voids}


def _take_back_entry(given: RefundedTokens, lot: TokenLot, taken: int) -> Entry:
    """A bought lot is reversed (the tokens leave `total_purchased`); a free one, such as a
    refunded period's included tokens, is voided."""
    if lot.category == LotCategory.PAID:
        return Entry(
            amount=-taken,
            transaction_type=Type.REVERSAL,
            reference_type=given.reference_type,
            reference_id=given.reference_id,
            description=given.description,
        )
    return Entry(
        amount=-taken,
        transaction_type=Type.VOID,
        reference_type=LOT_REFERENCE,
        reference_id=str(lot.pk),
        description=given.description,
    )
