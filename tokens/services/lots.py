"""Lots given by hand or by rule: staff grants and voids, the sign-up trial, a plan's included
tokens; and the sweep that books expired lots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from common.db import require_transaction
from common.errors import Invalid, InvalidState, NotFound
from events.services import events_emit
from tokens.ledger import Entry, LotChange, LotSpec, Posting, account_locked, post, spendable
from tokens.models import LotCategory, TokenAccount, TokenLot, TokenTransaction
from tokens.services import notices
from tokens.services.alerts import balance_alerts, low_balance_crossed
from tokens.services.ledger import LOT_REFERENCE, tokens_credit

Type = TokenTransaction.Type
GRANTABLE = (LotCategory.PROMOTIONAL, LotCategory.TRIAL, LotCategory.INCLUDED)
MAX_GRANT = 1_000_000_000


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
    trial or included (paid tokens come from purchases), `expires_at` not in the future,
    priority outside 0..100, a blank reason.
    """
    reason = reason.strip()
    if not 0 < amount <= MAX_GRANT:
        raise Invalid("amount", f"Must be a whole number from 1 to {MAX_GRANT}.")
    if category not in GRANTABLE:
        raise Invalid("category", f"Must be one of {', '.join(GRANTABLE)}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid("expires_at", "Must be in the future.")
    if not 0 <= priority <= 100:
        raise Invalid("priority", "Must be from 0 to 100.")
    if not reason:
        raise Invalid("reason", "A reason is required.")
    entry = tokens_credit(
        user_id=user_id,
        amount=amount,
        transaction_type=Type.GRANT,
        lot=LotSpec(
            category=category, expires_at=expires_at, priority=priority, source_type="grant"
        ),
        description=reason,
        idempotency_key=idempotency_key,
        created_by_id=actor_id,
    )
    return TokenLot.objects.get(credit=entry)


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


def lot_void(*, lot_id: UUID, reason: str, actor_id: UUID | None) -> TokenLot:
    """Takes what is left of a lot away (a `void` entry of -remaining), once.

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
    now = timezone.now()
    with transaction.atomic():
        account = account_locked(user_id)
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
    lot.refresh_from_db()
    return lot


@dataclass(frozen=True)
class Sweep:
    accounts: int
    lots: int
    tokens: int


def lots_expire(
    *, now: datetime | None = None, batch_size: int = 500, dry_run: bool = False
) -> Sweep:
    """Books every lot expired by `now` that still holds tokens: one `expiration` entry of
    -remaining per lot, the lot emptied. Balances do not change for users (expired tokens were
    already left out); the stored balance catches up.

    One short transaction per account, under its lock, so it runs beside live traffic; a lot
    a debit emptied first is skipped. Running it again finds nothing.
    """
    now = now or timezone.now()
    due = TokenLot.objects.filter(remaining__gt=0, expires_at__lte=now)
    accounts = lots = tokens = 0
    last = None
    while True:
        page = due if last is None else due.filter(account_id__gt=last)
        account_ids = list(
            page.order_by("account_id").values_list("account_id", flat=True).distinct()[:batch_size]
        )
        if not account_ids:
            return Sweep(accounts=accounts, lots=lots, tokens=tokens)
        for account_id in account_ids:
            if dry_run:
                expiring = due.filter(account_id=account_id).values_list("remaining", flat=True)
                booked = (len(expiring), sum(expiring))
            else:
                booked = _expire_account(account_id, now)
            if booked[0]:
                accounts, lots, tokens = accounts + 1, lots + booked[0], tokens + booked[1]
        last = account_ids[-1]


def _expire_account(account_id: UUID, now: datetime) -> tuple[int, int]:
    with transaction.atomic():
        user_id = TokenAccount.objects.filter(pk=account_id).values_list("user_id", flat=True)
        account = account_locked(next(iter(user_id)))
        expired = list(
            TokenLot.objects.filter(account=account, remaining__gt=0, expires_at__lte=now)
        )
        if expired:
            post(account, [_expiration(lot) for lot in expired], now=now)
            TokenLot.objects.filter(pk__in=[lot.pk for lot in expired]).update(expired_at=now)
            events_emit(
                [
                    notices.lot_expired(lot, user_id=account.user_id, tokens=lot.remaining)
                    for lot in expired
                ]
            )
            balance_alerts(
                user_id=account.user_id,
                threshold=account.low_balance_threshold,
                balance=(_seen_before_expiry(account, expired), account.balance),
                available=(0, 0),
            )
        upcoming = TokenLot.objects.filter(account=account, remaining__gt=0, expires_at__gt=now)
        account.next_expiry_at = upcoming.aggregate(next=Min("expires_at"))["next"]
        account.save(update_fields=["next_expiry_at"])
        return len(expired), sum(lot.remaining for lot in expired)


def _seen_before_expiry(account: TokenAccount, expired: list[TokenLot]) -> int:
    """The balance the user saw just before the first expiry among `expired` that took it
    below their threshold; else what it is now, so that the sweep alerts for no crossing.

    The stored balance counted those lots until this sweep, but every balance shown since
    each one's `expires_at` left it out, and any change since then judged its own crossing
    from there: comparing against the stored balance alerted a second time for a crossing a
    usage had already reported. The balance stored at an instant is today's less every entry
    made since (this sweep's own included), whatever order their numbers and times are in:
    a writer stamps its entry with the time it started, before it waited for the account.
    """
    instants = sorted({lot.expires_at for lot in expired})
    entries = TokenTransaction.objects.filter(account=account, created_at__gte=instants[0])
    since = entries.aggregate(
        **{
            f"since_{index}": Sum("amount", filter=Q(created_at__gte=instant))
            for index, instant in enumerate(instants)
        }
    )
    threshold, gone_earlier = account.low_balance_threshold, 0
    for index, instant in enumerate(instants):
        leaving = sum(lot.remaining for lot in expired if lot.expires_at == instant)
        before = account.balance - (since[f"since_{index}"] or 0) - gone_earlier
        if low_balance_crossed(threshold, before=before, after=before - leaving):
            return before
        gone_earlier += leaving
    return account.balance


def _expiration(lot: TokenLot) -> Posting:
    return Posting(
        entry=Entry(
            amount=-lot.remaining,
            transaction_type=Type.EXPIRATION,
            reference_type=LOT_REFERENCE,
            reference_id=str(lot.pk),
            description=f"{lot.get_category_display()} tokens expired",
        ),
        changes=(LotChange(lot_id=lot.pk, amount=-lot.remaining),),
    )


WARN_AHEAD = timedelta(days=7)


def lots_warn_expiring(*, now: datetime | None = None) -> int:
    """`lot.expiring_soon` once per lot, 7 days before it expires (while it holds tokens);
    returns how many. The mark on the lot and the event commit together.

    Lots a request holds are left to the next run, a minute later: this locks lots in expiry
    order, a debit in burn order, so waiting for one could close a circle (a deadlock)."""
    now = now or timezone.now()
    soon = TokenLot.objects.filter(
        remaining__gt=0,
        expiry_warned_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + WARN_AHEAD,
    ).select_related("account")
    warned = 0
    while True:
        with transaction.atomic():
            free = soon.select_for_update(of=("self",), skip_locked=True)
            batch = list(free.order_by("expires_at", "pk")[:500])
            if not batch:
                return warned
            TokenLot.objects.filter(pk__in=[lot.pk for lot in batch]).update(expiry_warned_at=now)
            events_emit(
                [notices.lot_expiring_soon(lot, user_id=lot.account.user_id) for lot in batch]
            )
            warned += len(batch)
