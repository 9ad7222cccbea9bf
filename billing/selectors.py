"""Billing reads."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    ItemStatus,
    Subscription,
    TokenBundlePurchase,
)
from common.errors import NotFound


def invoice_get(
    *, invoice_id: UUID, user_id: UUID | None = None, for_update: bool = False
) -> Invoice:
    """One invoice; with `user_id`, only that user's (another's answers NotFound, so nobody
    learns that it exists). `for_update` locks its row."""
    invoices = Invoice.objects.select_related("currency")
    if for_update:
        invoices = invoices.select_for_update(of=("self",))
    return _one_invoice(invoices, invoice_id, user_id)


def invoice_with_items(*, invoice_id: UUID, user_id: UUID | None = None) -> Invoice:
    """An invoice with its line items, for display (two queries); as invoice_get otherwise."""
    return _one_invoice(invoices_with_items(), invoice_id, user_id)


def _one_invoice(invoices: QuerySet[Invoice], invoice_id: UUID, user_id: UUID | None) -> Invoice:
    if user_id is not None:
        invoices = invoices.filter(user_id=user_id)
    try:
        return invoices.get(pk=invoice_id)
    except Invoice.DoesNotExist as error:
        raise NotFound("No invoice with this id.") from error


def add_ons_without_their_plan(invoice) -> QuerySet[AddOnSubscription]:
    """The pending add-ons on `invoice` (a pk, or an OuterRef) bought without a plan whose
    plan is no longer running: paid between its end and the sweep that moves such checkouts
    to the plan that runs (a renewal) or cancels them, they need that plan."""
    return (
        AddOnSubscription.objects.filter(invoice=invoice, status=ItemStatus.PENDING)
        .exclude(subscription__invoice_id=invoice)
        .exclude(
            subscription__status=ItemStatus.ACTIVE, subscription__expires_at__gt=timezone.now()
        )
    )


def add_ons_plan_end(invoice_id: UUID, user_id: UUID) -> datetime | None:
    """When the pending add-ons on the invoice, bought without a plan, are left with no plan:
    the end of the plan they rely on (the soonest, should they rely on several), or, when
    the user has a plan running past it (a renewal: they move to it then), the latest end
    of the user's running plans. None when none relies on another invoice's plan, or a plan
    never ends. Two queries at most."""
    end = (
        AddOnSubscription.objects.filter(invoice=invoice_id, status=ItemStatus.PENDING)
        .exclude(subscription__invoice_id=invoice_id)
        .aggregate(end=Min("subscription__expires_at"))["end"]
    )
    if end is None:
        return None
    running = Subscription.objects.filter(_running(), user_id=user_id).aggregate(
        end=Max("expires_at"), endless=Count("pk", filter=Q(expires_at__isnull=True))
    )
    if running["endless"]:
        return None
    return max(end, running["end"] or end)


def invoice_plan_follows(*, invoice: Invoice) -> datetime | None:
    """Where a pending invoice's plan period would start if it were paid now, when not at the
    payment: the end of the user's latest running period of that plan (the capture starts a
    renewal there, `_periods_start`); None otherwise. One query."""
    pending = Subscription.objects.filter(invoice=invoice, status=ItemStatus.PENDING)
    return (
        Subscription.objects.filter(
            user_id=invoice.user_id,
            plan_id__in=pending.values("plan_id"),
            status=ItemStatus.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .exclude(invoice=invoice)
        .aggregate(end=Max("expires_at"))["end"]
    )


def invoice_tokens_credited(*, invoice: Invoice) -> int:
    """The tokens paying the invoice credited: its bundles' and its plan's included tokens for
    the period (0 until it is paid). A refund does not change it: it says what was added.
    Two queries."""
    bought = TokenBundlePurchase.objects.filter(
        invoice=invoice,
        status__in=[TokenBundlePurchase.Status.COMPLETED, TokenBundlePurchase.Status.REFUNDED],
    ).aggregate(tokens=Sum("tokens"))["tokens"]
    # A subscription that started was paid for; one cancelled while pending never starts.
    included = Subscription.objects.filter(invoice=invoice, starts_at__isnull=False).aggregate(
        tokens=Sum("included_tokens")
    )["tokens"]
    return (bought or 0) + (included or 0)


def invoices_with_items() -> QuerySet[Invoice]:
    return Invoice.objects.select_related("currency", "user").prefetch_related("line_items")


def invoices_of_user(*, user_id: UUID, status: str | None = None) -> QuerySet[Invoice]:
    """The user's invoices, newest first."""
    invoices = invoices_with_items().filter(user_id=user_id)
    if status:
        invoices = invoices.filter(status=status)
    return invoices.order_by("-created_at", "-number")


def invoices_for_staff(
    *, status: str | None = None, user_id: UUID | None = None
) -> QuerySet[Invoice]:
    invoices = invoices_with_items().prefetch_related("token_purchases")
    if status:
        invoices = invoices.filter(status=status)
    if user_id:
        invoices = invoices.filter(user_id=user_id)
    return invoices.order_by("-created_at", "-number")


def _running() -> Q:
    return Q(status=ItemStatus.ACTIVE) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )


def subscription_active(
    *, user_id: UUID, for_share: bool = False, other_than_invoice_id: UUID | None = None
) -> Subscription | None:
    """The newest active, unexpired subscription: what add-ons bought alone attach to. With
    `other_than_invoice_id`, not one of that invoice's (a refund's own, still active).

    `for_share` locks its row FOR SHARE until the transaction ends, in the same query, so
    that it stays active meanwhile: a refund's or an expiry's UPDATE of it waits, and one
    that went first and has not committed is waited for, then seen (PostgreSQL reads the
    row again, and the next active one if it has ended). Django has no FOR SHARE of its
    own; FOR KEY SHARE would not make that UPDATE wait. SQLite's write lock, taken at
    BEGIN, already holds every row.
    """
    subscriptions = Subscription.objects.filter(_running(), user_id=user_id).order_by(
        "-starts_at", "-created_at"
    )
    if other_than_invoice_id is not None:
        subscriptions = subscriptions.exclude(invoice_id=other_than_invoice_id)
    if not (for_share and connection.vendor == "postgresql"):
        return subscriptions.first()
    sql, params = subscriptions[:1].query.sql_with_params()
    found = list(Subscription.objects.raw(f"{sql} FOR SHARE", params))
    return found[0] if found else None


def subscription_current(*, user_id: UUID) -> Subscription:
    """The subscription whose period runs now (the newest), else the newest active one (a
    period still to start), else the newest pending one. Its `add_ons_shown`: the add-ons
    not cancelled of it and of the active periods still to start (a renewal paid early,
    which add-ons bought since attach to; an add-on's own period runs from its payment), and
    the user's add-ons still running on another period (bought in a period that has ended
    since, or was refunded), so that a renewal neither hides the running period nor the
    add-ons in use.

    Raises NotFound when there is neither.
    """
    now = timezone.now()
    subscriptions = Subscription.objects.filter(user_id=user_id)
    running = subscriptions.filter(_running()).order_by("-starts_at", "-created_at")
    current = (
        running.filter(starts_at__lte=now).first()
        or running.first()
        or subscriptions.filter(status=ItemStatus.PENDING).order_by("-created_at").first()
    )
    if current is None:
        raise NotFound("No current subscription.")
    waiting = running.filter(starts_at__gt=now).values("pk")
    in_use_elsewhere = Q(subscription__user_id=user_id, status=ItemStatus.ACTIVE) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    current.add_ons_shown = list(
        AddOnSubscription.objects.filter(
            Q(subscription=current) | Q(subscription__in=waiting) | in_use_elsewhere
        )
        .exclude(status=ItemStatus.CANCELLED)
        .order_by("created_at", "id")
    )
    return current


def subscriptions_waiting(*, user_id: UUID, plan_id: UUID) -> QuerySet[Subscription]:
    """The user's active periods of the plan still to start (the plan paid again early: each
    follows the period before it), soonest first. Only the plan's own: another plan's
    renewal follows that plan's period, not this one's."""
    return Subscription.objects.filter(
        _running(), user_id=user_id, plan_id=plan_id, starts_at__gt=timezone.now()
    ).order_by("starts_at", "created_at")
