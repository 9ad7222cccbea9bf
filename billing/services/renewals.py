"""Periods paid again early: an add-on's follows the running one (`add_ons_start`, at the
capture); and a refund while a renewal of the same plan waits to start: the renewal moves up.

A plan paid again early starts where the running period of that plan ends (fulfilment's
`_periods_start`). When the period it follows is refunded, its money goes back and the
renewal, paid for, starts at the refund instead of after a gap: the customer is not left
without the plan they paid for, and an unlimited plan's coverage no longer runs through
the refunded days.
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


def add_ons_start(*, invoice: Invoice, paid_at: datetime) -> int:
    """Activates the invoice's pending add-ons and returns how many. Each starts at the
    payment, or, when the user has a period of that add-on running still (paid again early,
    as a plan is: fulfilment's `_periods_start`), where the latest one ends, so the rest of
    the period paid for is not lost; a one-time add-on has no period and starts at the payment.
    The running periods are locked in id order (after the invoice, before the token account):
    a second payment of the add-on at once waits, then reads the ends again and follows.
    Up to four queries however many add-ons."""
    require_transaction("add_ons_start")
    pending = AddOnSubscription.objects.filter(invoice=invoice, status=ItemStatus.PENDING)
    rows = list(pending.values_list("pk", "add_on_id", "billing_period"))
    if not rows:
        return 0
    running = AddOnSubscription.objects.filter(
        user_id=invoice.user_id,
        add_on_id__in={add_on_id for _pk, add_on_id, period in rows if period in PERIODS},
        status=ItemStatus.ACTIVE,
        expires_at__gt=paid_at,
    ).exclude(invoice=invoice)
    ends = running_ends(running, "add_on_id")
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
    """Locks the refunded invoice's subscriptions and, when one of them has not ended, the
    user's other unended periods of those plans, all in one statement in id order: the
    order a renewal's capture locks the running periods in, so neither waits for a lock the
    other holds while holding one it wants. Before any other subscription lock of the refund.
    A sweep ends only periods that are over, which are locked here only at the instant one
    ends (this refund's clock still inside it): a sweep then holds it and reads the renewal
    FOR SHARE, and PostgreSQL rolls one of the two back, which runs once more.

    Returns the newest of those other periods (as a checkout of add-ons picks the plan it
    relies on), which add-ons relying on the refunded period move onto; None when none."""
    require_transaction("renewals_lock")
    plans = Subscription.objects.filter(
        invoice=invoice, status=ItemStatus.ACTIVE, expires_at__gt=now
    ).values("plan_id")
    unended = Subscription.objects.filter(
        user_id=invoice.user_id, plan_id__in=plans, status=ItemStatus.ACTIVE, expires_at__gt=now
    )
    mine = Subscription.objects.filter(invoice=invoice)
    locked = (
        (mine | unended)
        .select_for_update(no_key=True)
        .order_by("pk")
        .values_list("pk", "invoice_id", "starts_at", "created_at")
    )
    others = [(row[2], row[3], row[0]) for row in locked if row[1] != invoice.pk]
    return max(others)[2] if others else None


def renewals_follow(*, invoice: Invoice, plan_ids: set, now: datetime) -> tuple:
    """After the refunded invoice's subscriptions were cancelled: each of those plans' periods
    that has not started yet starts where the period before it now ends (the latest started
    period still running, or the refund), one after the other. Returns the periods moved
    (`signals.PeriodMoved`). The rows were locked by `renewals_lock`."""
    require_transaction("renewals_follow")
    moved = []
    for plan_id in plan_ids:
        mine = Subscription.objects.filter(
            user_id=invoice.user_id, plan_id=plan_id, status=ItemStatus.ACTIVE
        )
        started = mine.filter(starts_at__lte=now, expires_at__gt=now).aggregate(
            end=Max("expires_at")
        )["end"]
        cursor = started or now
        for pk, starts_at, period in (
            mine.filter(starts_at__gt=now)
            .order_by("starts_at", "pk")
            .values_list("pk", "starts_at", "billing_period")
        ):
            if period not in PERIODS:
                break
            ends_at = cursor + PERIODS[period]
            if cursor < starts_at:
                Subscription.objects.filter(pk=pk).update(
                    starts_at=cursor, expires_at=ends_at, updated_at=timezone.now()
                )
                moved.append(
                    signals.PeriodMoved(subscription_id=pk, starts_at=cursor, ends_at=ends_at)
                )
            cursor = ends_at
    return tuple(moved)


def running_ends(running: QuerySet, key: str) -> dict:
    """Locks the periods still running that a payment made early follows (in id order, as
    every capture locks them) and answers where the latest of each `key` ends: the new
    period starts there, and two such payments at once follow each other."""
    if not list(running.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True)):
        return {}
    return dict(running.values(key).annotate(end=Max("expires_at")).values_list(key, "end"))
