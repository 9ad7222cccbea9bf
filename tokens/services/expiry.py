"""The sweeps of lots: `lots_expire` books expired lots (their tokens had already left every
balance shown), `lots_warn_expiring` tells of lots about to expire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from events.services import events_emit
from tokens.ledger import Entry, LotChange, Posting, account_locked, post, spendable
from tokens.models import Hold, TokenAccount, TokenLot, TokenTransaction, UsageRecord
from tokens.services import notices
from tokens.services.alerts import balance_alerts, low_balance_crossed
from tokens.services.ledger import LOT_REFERENCE
from tokens.services.sweeps import SweepIncomplete, each_account

Type = TokenTransaction.Type


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
    a debit emptied first is skipped. Running it again finds nothing. An account it cannot
    finish (its row held past the lock timeout) is logged and left to the next run, and
    the others are booked; then it raises SweepIncomplete naming them, with the counts.
    """
    now = now or timezone.now()
    due = TokenLot.objects.filter(remaining__gt=0, expires_at__lte=now)

    def book(account_id: UUID) -> tuple[int, int]:
        if not dry_run:
            return _expire_account(account_id, now)
        expiring = due.filter(account_id=account_id).values_list("remaining", flat=True)
        return len(expiring), sum(expiring)

    accounts = lots = tokens = 0
    failed: list[UUID] = []
    # In one statement, not in pages of `ORDER BY account_id LIMIT n`: most lots whose end
    # has passed are spent, so PostgreSQL, taking "holds tokens" and "ended" as unrelated,
    # expects thousands of due lots where there are a few, and for such a page walks every
    # live lot in account order (tokens_lot_live). Unpaged, it reads the ended ones along
    # tokens_lot_expiring. The list holds an id per account with due lots.
    due_accounts = list(due.order_by("account_id").values_list("account_id", flat=True).distinct())
    for start in range(0, len(due_accounts), batch_size):
        account_ids = due_accounts[start : start + batch_size]
        booked, failed_here = each_account(account_ids, book, what="lots")
        for lots_booked, tokens_booked in booked:
            if lots_booked:
                accounts, lots, tokens = accounts + 1, lots + lots_booked, tokens + tokens_booked
        failed += failed_here
    sweep = Sweep(accounts=accounts, lots=lots, tokens=tokens)
    if failed:
        raise SweepIncomplete("lots", failed, sweep)
    return sweep


def _expire_account(account_id: UUID, now: datetime) -> tuple[int, int]:
    with transaction.atomic():
        user_id = TokenAccount.objects.filter(pk=account_id).values_list("user_id", flat=True)
        account = account_locked(next(iter(user_id)))
        # Booked in the order they expired: the ledger and the `lot.expired` events tell
        # the account's history as it happened when a sweep finds several.
        expired = list(
            TokenLot.objects.filter(account=account, remaining__gt=0, expires_at__lte=now).order_by(
                "expires_at", "created_at", "id"
            )
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
            instants = _instants(account, expired)
            balance_alerts(
                user_id=account.user_id,
                threshold=account.low_balance_threshold,
                balance=(_seen_before_expiry(account, instants), account.balance),
                available=_available_across_expiry(account, instants, now),
            )
        upcoming = TokenLot.objects.filter(account=account, remaining__gt=0, expires_at__gt=now)
        account.next_expiry_at = upcoming.aggregate(next=Min("expires_at"))["next"]
        account.save(update_fields=["next_expiry_at"])
        return len(expired), sum(lot.remaining for lot in expired)


@dataclass(frozen=True)
class _Instant:
    """One instant at which lots of `expired` left what is shown."""

    at: datetime
    balance_before: int
    leaving: int


def _instants(account: TokenAccount, expired: list[TokenLot]) -> list[_Instant]:
    """The instants of `expired`'s expiries, soonest first, each with the balance the user saw
    just before it and the tokens that left at it.

    The stored balance counted those lots until this sweep, but every balance shown since
    each one's `expires_at` left it out, and any change since then judged its own crossing
    from there. The balance stored at an instant is today's less every entry made since
    (this sweep's own included), whatever order their numbers and times are in: a writer
    stamps its entry with the time it started, before it waited for the account.
    """
    instants = sorted({lot.expires_at for lot in expired})
    entries = TokenTransaction.objects.filter(account=account, created_at__gte=instants[0])
    since = entries.aggregate(
        **{
            f"since_{index}": Sum("amount", filter=Q(created_at__gte=instant))
            for index, instant in enumerate(instants)
        }
    )
    found, gone_earlier = [], 0
    for index, instant in enumerate(instants):
        leaving = sum(lot.remaining for lot in expired if lot.expires_at == instant)
        before = account.balance - (since[f"since_{index}"] or 0) - gone_earlier
        found.append(_Instant(at=instant, balance_before=before, leaving=leaving))
        gone_earlier += leaving
    return found


def _seen_before_expiry(account: TokenAccount, instants: list[_Instant]) -> int:
    """The balance the user saw just before the first expiry that took it below their
    threshold; else what it is now, so that the sweep alerts for no crossing (comparing
    against the stored balance alerted a second time for a crossing a usage had already
    reported)."""
    for instant in instants:
        before = instant.balance_before
        if low_balance_crossed(
            account.low_balance_threshold, before=before, after=before - instant.leaving
        ):
            return before
    return account.balance


def _available_across_expiry(
    account: TokenAccount, instants: list[_Instant], now: datetime
) -> tuple[int, int]:
    """(before, after) for `tokens.depleted`: what was available just before the first expiry
    that took it from above 0 to 0 or below, and what is available at the sweep. (after,
    after), no depletion, when no expiry did, or when tokens are available again by the
    sweep (a credit, a hold released): a depletion that is over is not told. A change after
    the expiry that took what was left (a usage, a hold) told its own depletion, and the
    expiry took none then: what was available before an expiry counts the holds active at
    that instant, not the ones of now."""
    after = spendable(account, now=now).available
    if after > 0:
        return after, after
    held = _held_at(account, [instant.at for instant in instants])
    for instant, reserved in zip(instants, held, strict=True):
        before = instant.balance_before - reserved
        if before > 0 >= before - instant.leaving:
            return before, after
    return after, after


def _held_at(account: TokenAccount, instants: list[datetime]) -> list[int]:
    """What the account's holds reserved just before each of `instants`: each hold made by
    then that had neither expired nor resolved yet, less what it had captured by then. A hold
    ending at the instant itself still reserved just before it (expiries are whole seconds,
    so a hold and a lot often end at the same one); one made at the instant did not: it saw
    the lot gone and told its own depletion, which the sweep told a second time."""

    def live(at: datetime, path: str = "") -> Q:
        return Q(**{f"{path}created_at__lt": at, f"{path}expires_at__gte": at}) & (
            Q(**{f"{path}resolved_at__isnull": True}) | Q(**{f"{path}resolved_at__gt": at})
        )

    holds = Hold.objects.filter(
        account=account,
        source=Hold.Source.TOKENS,
        created_at__lte=instants[-1],
        expires_at__gte=instants[0],
    )
    reserved = holds.aggregate(
        **{
            f"at_{index}": Sum("amount", filter=live(at), default=0)
            for index, at in enumerate(instants)
        }
    )
    captured = UsageRecord.objects.filter(hold__in=holds).aggregate(
        **{
            f"at_{index}": Sum(
                "amount", filter=live(at, "hold__") & Q(created_at__lt=at), default=0
            )
            for index, at in enumerate(instants)
        }
    )
    return [reserved[f"at_{index}"] - captured[f"at_{index}"] for index in range(len(instants))]


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
