"""Usage authorization: may this user do this work, and what does it cost? An unlimited plan
first, then lots in the lot order (so trial tokens go first); and the refund of a usage."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import Max, Q
from django.utils import timezone

from common.db import atomic_if_needed, require_transaction
from common.errors import NotFound
from events.services import events_emit
from tokens.ledger import InsufficientTokens, Used, Work, account_locked, covered, ledger_use
from tokens.models import Hold, TokenAccount, UnlimitedCoverage, UsageRecord
from tokens.selectors.lots import allocations_in_order
from tokens.services import notices
from tokens.services.alerts import balance_alerts
from tokens.services.ledger import LedgerKeyReused, UsageAlreadyRefunded, usage_refund


def usage_record(*, user_id: UUID, work: Work) -> Used:
    """Records one piece of work (see tokens.ledger.usage). The same `work.usage_key` again
    answers the first usage, even after the API's idempotency record is gone.

    Raises InsufficientTokens (nothing changed), LedgerKeyReused for a key used for other work.
    """
    # Looked up once for the transaction, the ledger's statement and the alerts' check: each
    # look-up costs about 17,000 instructions (docs/decisions.md, Speed).
    database = connections[DEFAULT_DB_ALIAS]
    try:
        with atomic_if_needed(database):
            used = ledger_use(user_id=user_id, work=work, database=database)
            if used.balance is not None:
                charged = used.usage.charged
                balance_alerts(
                    user_id=user_id,
                    threshold=used.threshold,
                    balance=(used.balance + charged, used.balance),
                    available=(used.available + charged, used.available),
                    database=database,
                )
            return used
    except (IntegrityError, InsufficientTokens):
        # The key's work done before: found by its unique key, or, when the balance is too
        # short now to get that far, looked up (a retry after the API's record is gone).
        first = usage_done_before(user_id=user_id, key=work.usage_key)
        if first is None:
            raise
        # Every field of the body the usage keeps: the same key with another body is a 422
        # after the API's record is gone too.
        stored = (first.amount, first.feature, first.description, first.reference)
        if stored != (work.amount, work.feature, work.description, work.reference):
            raise LedgerKeyReused() from None
        return Used(usage=first, entry=first.entry)


def usage_done_before(*, user_id: UUID, key: str) -> UsageRecord | None:
    """The user's usage recorded under this usage key, if any (none for a blank key)."""
    if not key:
        return None
    return (
        UsageRecord.objects.filter(account__user_id=user_id, idempotency_key=key)
        .select_related("entry")
        .order_by("created_at")
        .first()
    )


def usage_get(*, usage_id: UUID, user_id: UUID) -> UsageRecord:
    """One of the user's usage records (with its allocations, in the burn order, as the usage
    list shows them); another user's is NotFound."""
    found = UsageRecord.objects.select_related("account").prefetch_related(
        allocations_in_order("entry__allocations")
    )
    try:
        return found.get(pk=usage_id, account__user_id=user_id)
    except UsageRecord.DoesNotExist as error:
        raise NotFound("No usage with this id.") from error


def usage_record_refund(*, user_id: UUID, usage_id: UUID, actor_id: UUID | None) -> UsageRecord:
    """Gives a usage back, once: its tokens to the lots they came from (the ledger's refund of
    its debit, whose unique reference decides between racing refunds), or, for usage a plan
    covered, only the mark.

    Raises NotFound (another user's usage too), UsageAlreadyRefunded.
    """
    usage = usage_get(usage_id=usage_id, user_id=user_id)
    if usage.entry_id:
        usage_refund(transaction_id=usage.entry_id, actor_id=actor_id)
    else:
        with transaction.atomic():
            marked = UsageRecord.objects.filter(pk=usage.pk, refunded_at__isnull=True).update(
                refunded_at=timezone.now()
            )
            if not marked:
                raise UsageAlreadyRefunded()
            events_emit([notices.usage_refunded(usage, user_id=user_id)])
    return usage_get(usage_id=usage_id, user_id=user_id)


def coverage_start(
    *, user_id: UUID, subscription_id: UUID, starts_at: datetime, ends_at: datetime | None
) -> None:
    """An unlimited plan's paid period: usage is free until it ends. Inside the capture."""
    require_transaction("coverage_start")
    account = account_locked(user_id, create=True)
    UnlimitedCoverage.objects.get_or_create(
        subscription_id=subscription_id,
        defaults={"account": account, "starts_at": starts_at, "ends_at": ends_at},
    )
    _coverage_update(account)


def coverage_end(*, user_id: UUID, subscription_ids: list[UUID], now: datetime) -> None:
    """A refunded subscription's coverage ends now. Inside the refund.

    Holds made under it that have not expired are released unless another coverage still
    runs: their captures would otherwise charge nothing for work under a plan whose money
    went back. Kept for a running plan, they go when that plan is refunded too. A hold made
    under another plan's period keeps its coverage, also once that period has ended: it was
    paid for. One past its time stays for the sweep to record as expired."""
    require_transaction("coverage_end")
    account = account_locked(user_id)
    if account is None:
        return
    UnlimitedCoverage.objects.filter(
        account=account, subscription_id__in=subscription_ids, revoked_at__isnull=True
    ).update(revoked_at=now)
    _coverage_update(account)
    if covered(account, now=now):
        return
    coverages = UnlimitedCoverage.objects.filter(account=account)
    windows = {True: [], False: []}
    for starts_at, ends_at, revoked_at in coverages.values_list(
        "starts_at", "ends_at", "revoked_at"
    ):
        windows[revoked_at is not None].append((starts_at, ends_at))
    # A hold past its time expired at that instant: the sweep records it (and says so).
    free = Hold.objects.filter(
        account=account,
        status=Hold.Status.ACTIVE,
        source=Hold.Source.SUBSCRIPTION,
        expires_at__gt=now,
    )
    # Made under a refunded plan: the ones just refunded, and one refunded earlier while
    # this plan still covered the user (that refund kept its holds for this plan's sake).
    made_under_refunded = free.filter(_made_within(windows[True]))
    made_under_refunded.exclude(_made_within(windows[False])).update(
        status=Hold.Status.RELEASED, resolved_at=now
    )


def coverage_move(*, user_id: UUID, periods: list) -> None:
    """Paid periods that now start earlier (a renewal moved up when the period it followed was
    refunded): their coverage runs over their new dates, and `unlimited_until` ends with the
    last of them. `periods` are (subscription_id, starts_at, ends_at). Inside the refund."""
    require_transaction("coverage_move")
    account = account_locked(user_id)
    if account is None:
        return
    for subscription_id, starts_at, ends_at in periods:
        UnlimitedCoverage.objects.filter(account=account, subscription_id=subscription_id).update(
            starts_at=starts_at, ends_at=ends_at
        )
    _coverage_update(account)


def _made_within(windows) -> Q:
    """Holds made inside one of the coverage periods `windows` ((starts_at, ends_at) pairs,
    `ends_at` None for an open one)."""
    made = Q(pk__in=[])
    for starts_at, ends_at in windows:
        window = Q(created_at__gte=starts_at)
        if ends_at is not None:
            window &= Q(created_at__lt=ends_at)
        made |= window
    return made


def _coverage_update(account: TokenAccount) -> None:
    """`unlimited_until`: the end of the latest coverage that was not revoked (plans are sold
    by the month or the year, so every period ends)."""
    live = UnlimitedCoverage.objects.filter(account=account, revoked_at__isnull=True)
    account.unlimited_until = live.aggregate(until=Max("ends_at"))["until"]
    account.save(update_fields=["unlimited_until"])
