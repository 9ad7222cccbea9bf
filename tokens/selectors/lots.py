"""A user's lots and what one ledger entry did to them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db.models import Case, F, Prefetch, Q, QuerySet, When
from django.utils import timezone

from common.errors import NotFound
from tokens.models import CATEGORY_ORDER, TokenAllocation, TokenLot, TokenTransaction
from tokens.selectors.balance import unexpired

LOT_STATUSES = ("active", "expired", "spent", "voided")


def lot_status(lot: TokenLot, *, now: datetime) -> str:
    if lot.voided_at is not None:
        return "voided"
    if lot.is_expired(now) and (lot.remaining > 0 or lot.expired_at is not None):
        return "expired"
    return "active" if lot.remaining > 0 else "spent"


def _status(status: str, now: datetime) -> Q:
    expired = Q(expires_at__lte=now) & (Q(remaining__gt=0) | Q(expired_at__isnull=False))
    return {
        "active": Q(remaining__gt=0) & unexpired(now),
        "expired": expired & Q(voided_at__isnull=True),
        "spent": Q(remaining=0, voided_at__isnull=True, expired_at__isnull=True),
        "voided": Q(voided_at__isnull=False),
    }[status]


def lots_of_user(
    *,
    user_id: UUID,
    status: str | None = None,
    category: str | None = None,
    now: datetime | None = None,
) -> QuerySet[TokenLot]:
    """The user's lots, newest first; only ever this user's."""
    lots = TokenLot.objects.filter(account__user_id=user_id)
    if status:
        lots = lots.filter(_status(status, now or timezone.now()))
    if category:
        lots = lots.filter(category=category)
    return lots.order_by("-created_at", "-id")


def entry_of_user(*, user_id: UUID, entry_id: UUID) -> TokenTransaction:
    """One of the user's entries with its allocations and their lots (two queries); another
    user's entry is NotFound."""
    entries = TokenTransaction.objects.filter(account__user_id=user_id).prefetch_related(
        allocations_in_order("allocations")
    )
    try:
        return entries.get(pk=entry_id)
    except TokenTransaction.DoesNotExist as error:
        raise NotFound("No ledger entry with this id.") from error


def allocations_in_order(lookup: str) -> Prefetch:
    """The allocations at `lookup`, with their lots, in the burn order of those lots (as
    `tokens_debit` takes them): unordered, one entry's allocations came in the order of the
    plan the database chose, by lot id along the (entry, lot) index, so a debit's lots were
    listed in another order than it burned them."""
    category_rank = Case(
        *(When(lot__category=category, then=rank) for rank, category in enumerate(CATEGORY_ORDER))
    )
    return Prefetch(
        lookup,
        TokenAllocation.objects.select_related("lot").order_by(
            "lot__priority",
            F("lot__expires_at").asc(nulls_last=True),
            category_rank,
            "lot__created_at",
            "lot__id",
        ),
    )
