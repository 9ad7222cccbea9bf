"""Periods paid again early: an add-on's follows the running one (`add_ons_start`, at the
capture); and a refund while a renewal of the same plan, or a period of the same add-on paid
early, waits to start: the waiting period moves up.

A plan paid again early starts where the running period of that plan ends (fulfilment's
`_periods_start`). When the period it follows is refunded, its money goes back and the
renewal, paid for, starts at the refund instead of after a gap: the customer is not left
without the plan they paid for, and an unlimited plan's coverage no longer runs through
the refunded days. An add-on paid early moves up the same way (`add_on_periods_follow`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from dateutil.relativedelta import relativedelta
from django.db.models import Case, DateTimeField, Max, QuerySet, Value, When
from django.utils import timezone

from billing import signals
from billing.models import AddOnSubscription, Invoice, ItemStatus, Subscription
from catalog.models import BillingPeriod
from common.db import require_transaction

PERIODS = {
    BillingPeriod.MONTHLY: relativedelta(months=1),
    BillingPeriod.YEARLY: relativedelta(years=1),
}
# The periods that ran, the statuses `expires_at` decides between: also one the expiry's
# sweep recorded expired with its clock ahead of this machine's, still inside it. A refund
# takes such a period back (invoice_take_back); one not ended moves the periods waiting for
# it up, so the locks count it; and a period paid early, or moved up, follows it.
TAKEN_BACK = (ItemStatus.ACTIVE, ItemStatus.EXPIRED)


def add_ons_start(*, invoice: Invoice, paid_at: datetime) -> int:
    """Activates the invoice's pending add-ons and returns how many. Each starts at the
    payment, or, when the user has a period of that add-on running still (paid again early,
    as a plan is: fulfilment's `_periods_start`), where the latest one ends, so the rest of
    the period paid for is not lost; a one-time add-on has no period and starts at the payment.
    The running periods are locked in id order (after the invoice, before the token account),
    with the user's periods of those add-ons not paid yet, this invoice's among them: a
    second payment of the add-on at once, also when none runs, waits, then reads the ends
    again and follows.
    Up to four queries however many add-ons."""
    require_transaction("add_ons_start")
    pending = AddOnSubscription.objects.filter(invoice=invoice, status=ItemStatus.PENDING)
    rows = list(pending.values_list("pk", "add_on_id", "billing_period"))
    if not rows:
        return 0
    mine = AddOnSubscription.objects.filter(
        user_id=invoice.user_id,
        add_on_id__in={add_on_id for _pk, add_on_id, period in rows if period in PERIODS},
    )
    running = mine.filter(status__in=TAKEN_BACK, expires_at__gt=paid_at).exclude(invoice=invoice)
    ends = running_ends(running, "add_on_id", paying=mine.filter(status=ItemStatus.PENDING))
    starts, expires = [], []
    for pk, add_on_id, period in rows:
        start = ends.get(add_on_id, paid_at)
        starts.append(When(pk=pk, then=Value(start)))
        if period in PERIODS:
            expires.append(When(pk=pk, then=Value(start + PERIODS[period])))
    return pending.update(
        status=ItemStatus.ACTIVE,
        starts_at=Case(*starts, output_field=DateTimeField()),
        expires_at=Case(*expires, default=Value(None), output_field=DateTimeField()),
        updated_at=timezone.now(),
    )


def renewals_lock(*, invoice: Invoice, now: datetime) -> UUID | None:
    """Locks the refunded invoice's subscriptions and, when one of them has not ended (also
    one a sweep with its clock ahead has recorded expired: `TAKEN_BACK`), the user's other
    unended periods of those plans, all in one statement in id order: the
    order a renewal's capture locks the running periods in, so neither waits for a lock the
    other holds while holding one it wants. Before any other subscription lock of the refund.
    A sweep ends only periods that are over, which are locked here only at the instant one
    ends (this refund's clock still inside it): a sweep then holds it and reads the renewal
    FOR SHARE, and PostgreSQL rolls one of the two back, which runs once more.

    Returns the newest of those other periods still active (as a checkout of add-ons picks
    the plan it relies on), which add-ons relying on the refunded period move onto; None
    when none."""
    require_transaction("renewals_lock")
    plans = Subscription.objects.filter(
        invoice=invoice, status__in=TAKEN_BACK, expires_at__gt=now
    ).values("plan_id")
    unended = Subscription.objects.filter(
        user_id=invoice.user_id, plan_id__in=plans, status__in=TAKEN_BACK, expires_at__gt=now
    )
    mine = Subscription.objects.filter(invoice=invoice)
    locked = (
        (mine | unended)
        .select_for_update(no_key=True)
        .order_by("pk")
        .values_list("pk", "invoice_id", "starts_at", "created_at", "status")
    )
    # One a sweep has recorded expired is over for the add-ons: they never move onto it.
    others = [
        (row[2], row[3], row[0])
        for row in locked
        if row[1] != invoice.pk and row[4] == ItemStatus.ACTIVE
    ]
    return max(others)[2] if others else None


def renewals_follow(*, invoice: Invoice, plan_ids: set, now: datetime) -> tuple:
    """After the refunded invoice's subscriptions were cancelled: each of those plans' periods
    that has not started yet starts where the period before it now ends (the latest started
    period still running, or the refund), one after the other. Returns the periods moved
    (`signals.PeriodMoved`). The rows were locked by `renewals_lock`."""
    require_transaction("renewals_follow")
    mine = Subscription.objects.filter(user_id=invoice.user_id, status__in=TAKEN_BACK)
    return tuple(
        signals.PeriodMoved(subscription_id=pk, starts_at=starts_at, ends_at=ends_at)
        for plan_id in plan_ids
        for pk, starts_at, ends_at in _periods_follow(mine.filter(plan_id=plan_id), now)
    )


def add_on_periods_lock(*, invoice: Invoice, now: datetime) -> None:
    """Locks, in one statement in id order, every add-on row the refund of `invoice` writes:
    its own add-ons, the user's unended periods of those it has running or waiting (a
    period paid early waits for one of them and moves up, `add_on_periods_follow`; one a
    sweep with its clock ahead has recorded expired counts too: `TAKEN_BACK`), and the
    add-ons paid alone relying on its subscriptions (they move onto a renewal). A capture
    of an add-on paid early locks the running periods of it in id order too (`running_ends`),
    so neither waits for a row the other holds while holding one it wants. Taken after the
    pending invoices relying on this one's plan are locked (a capture of one holds it
    before its add-on rows) and before the token account, as a capture takes them."""
    require_transaction("add_on_periods_lock")
    add_ons = AddOnSubscription.objects.filter(
        invoice=invoice, status__in=TAKEN_BACK, expires_at__gt=now
    ).values("add_on_id")
    unended = AddOnSubscription.objects.filter(
        user_id=invoice.user_id, add_on_id__in=add_ons, status__in=TAKEN_BACK, expires_at__gt=now
    )
    # The user's too (a subscription's add-ons are its user's): that column's index serves
    # this arm, without which PostgreSQL read the whole table for the OR.
    relying = AddOnSubscription.objects.filter(
        user_id=invoice.user_id,
        subscription_id__in=Subscription.objects.filter(invoice=invoice).values("pk"),
        status=ItemStatus.ACTIVE,
    )
    mine = AddOnSubscription.objects.filter(invoice=invoice)
    list(
        (mine | unended | relying)
        .select_for_update(no_key=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def add_on_periods_follow(*, invoice: Invoice, add_on_ids: set, now: datetime) -> int:
    """After the refunded invoice's add-ons were cancelled: each of those add-ons' periods
    paid early, waiting to start, starts where the period before it now ends (the latest
    started one still running, or the refund), one after the other, as a plan's renewal
    does (`renewals_follow`). Returns how many moved. The rows were locked by
    `add_on_periods_lock`. Nothing else hears of it: an add-on's dates are announced to
    nobody (no event, no token) when it is paid, so none are announced again."""
    require_transaction("add_on_periods_follow")
    mine = AddOnSubscription.objects.filter(user_id=invoice.user_id, status__in=TAKEN_BACK)
    return sum(
        len(_periods_follow(mine.filter(add_on_id=add_on_id), now)) for add_on_id in add_on_ids
    )


def _periods_follow(periods: QuerySet, now: datetime) -> list[tuple]:
    """Moves the `periods` (of one plan or one add-on, one user's, `TAKEN_BACK`) not started
    at `now` to follow the latest started one still running, or `now`, one after the other;
    one with no period (one-time) ends the chain. Returns (id, new start, new end) of each
    moved. The callers have locked the rows."""
    started = periods.filter(starts_at__lte=now, expires_at__gt=now).aggregate(
        end=Max("expires_at")
    )["end"]
    cursor = started or now
    moved = []
    for pk, starts_at, period in (
        periods.filter(starts_at__gt=now)
        .order_by("starts_at", "pk")
        .values_list("pk", "starts_at", "billing_period")
    ):
        if period not in PERIODS:
            break
        ends_at = cursor + PERIODS[period]
        if cursor < starts_at:
            periods.model.objects.filter(pk=pk).update(
                starts_at=cursor, expires_at=ends_at, updated_at=timezone.now()
            )
            moved.append((pk, cursor, ends_at))
        cursor = ends_at
    return moved


def running_ends(running: QuerySet, key: str, paying: QuerySet | None = None) -> dict:
    """Locks the periods still running that a payment made early follows (in id order, as
    every capture locks them) and answers where the latest of each `key` ends: the new
    period starts there, and two such payments at once follow each other. With `paying`
    (the periods not paid yet, the capture's own among them) those are locked in the same
    statement: two first payments at once, with none running, follow each other too, where
    both started at the payment and one period was lost. One paid meanwhile comes back
    active (PostgreSQL reads a row again once its lock is granted). The periods not paid
    are taken first: a refund of the running one cancels or moves the checkouts relying on
    its plan (writing their periods) before it locks the running ones, and a capture taking
    the running ones first met it in a circle PostgreSQL ended by rolling one back."""
    locked = running if paying is None else running | paying
    unpaid_first = Case(When(status=ItemStatus.PENDING, then=Value(0)), default=Value(1))
    statuses = (
        locked.select_for_update(no_key=True)
        .order_by(unpaid_first, "pk")
        .values_list("status", flat=True)
    )
    if all(status == ItemStatus.PENDING for status in statuses):
        return {}
    return dict(running.values(key).annotate(end=Max("expires_at")).values_list(key, "end"))
