"""What a payment delivers and what a refund takes back, inside the capture's or the
refund's transaction: billing's own items directly, the tokens through billing.signals.

Billing marks its own rows (subscriptions, add-ons, purchases) and computes its answers from
them; the signals carry plain data so that each receiver does its part without reading them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from billing import signals
from billing.models import AddOnSubscription, Invoice, ItemStatus, Subscription
from billing.models import TokenBundlePurchase as Purchase
from billing.services import notices
from billing.services.renewals import (
    PERIODS,
    TAKEN_BACK,
    add_on_periods_follow,
    add_ons_start,
    renewals_follow,
    running_ends,
)
from catalog.models import UsageMode
from common.db import require_transaction
from events.services import events_emit


@dataclass(frozen=True)
class Delivery:
    subscription_activated: bool
    tokens_credited: int
    addons_activated: int


@dataclass(frozen=True)
class TakeBack:
    tokens_reversed: int
    tokens_unrecovered: int
    subscriptions_cancelled: int
    addons_cancelled: int
    # What was left of the plan's included tokens for the period, voided (not purchases').
    included_tokens_voided: int = 0


def invoice_deliver(*, invoice: Invoice) -> Delivery:
    """Delivers what a paid (and locked) invoice bought and sends `invoice_paid`.

    Acts only on what is still pending, so it also finishes an invoice whose delivery never
    happened (reconciliation). The purchases are locked in id order before any receiver
    takes a lock of its own. A fixed number of queries however many items.
    """
    require_transaction("invoice_deliver")
    started = invoice.paid_at
    started_now = _periods_start(invoice, started)
    subscriptions = len(started_now)
    periods = [row for row in started_now if row[1] > 0 or row[4] == UsageMode.UNLIMITED]
    add_ons = add_ons_start(invoice=invoice, paid_at=started)
    purchases = _locked_purchases(invoice, Purchase.Status.PENDING)
    if purchases:
        Purchase.objects.filter(pk__in=[purchase.pk for purchase in purchases]).update(
            status=Purchase.Status.COMPLETED, completed_at=started
        )
    signals.invoice_paid.send(
        sender=Invoice,
        paid=signals.InvoicePaid(
            invoice_id=invoice.pk,
            user_id=invoice.user_id,
            number=invoice.number,
            paid_at=started,
            purchases=tuple(
                signals.PurchasedTokens(
                    purchase_id=purchase.pk,
                    tokens=purchase.tokens,
                    reference_type=signals.PURCHASE_REFERENCE_TYPE,
                    reference_id=str(purchase.pk),
                    description=f"{purchase.name} ({invoice.number})",
                    expires_at=_tokens_expiry(started, purchase.tokens_expire_after_days),
                )
                for purchase in purchases
            ),
            included=tuple(
                signals.IncludedTokens(
                    subscription_id=subscription_id,
                    tokens=tokens,
                    reference_type=signals.SUBSCRIPTION_REFERENCE_TYPE,
                    reference_id=str(subscription_id),
                    description=f"{plan_name}: tokens included ({invoice.number})",
                    # With its period, which a renewal starts where the running one ends.
                    expires_at=ends_at,
                )
                for subscription_id, tokens, plan_name, _period, _mode, _starts, ends_at in periods
                if tokens
            ),
            unlimited=tuple(
                signals.UnlimitedUsage(subscription_id=pk, starts_at=starts_at, ends_at=ends_at)
                for pk, _tokens, _name, _period, mode, starts_at, ends_at in periods
                if mode == UsageMode.UNLIMITED
            ),
        ),
    )
    events_emit(
        notices.invoice_paid(
            invoice,
            purchases,
            [(pk, name, starts, end) for pk, _tokens, name, _p, _mode, starts, end in started_now],
        )
    )
    return Delivery(
        subscription_activated=bool(subscriptions),
        # Bought and included alike: the receipt counts both, and so does this answer.
        tokens_credited=sum(purchase.tokens for purchase in purchases)
        + sum(tokens for _pk, tokens, *_rest in started_now),
        addons_activated=add_ons,
    )


def invoice_take_back(*, invoice: Invoice) -> TakeBack:
    """Ends what a refunded (and locked) invoice bought and sends `invoice_refunded`; each
    purchase records what the receivers took back of its tokens and what was already spent
    (or expired; tokens staff voided before are neither).
    A renewal waiting for a period refunded starts at the refund (`moved` in the signal), and
    so does an add-on period paid early waiting for one refunded."""
    require_transaction("invoice_take_back")
    # A period that started was paid for, also one the sweep has since recorded as expired:
    # its money goes back all the same, so its tokens and its coverage end with the refund,
    # and it is recorded cancelled (as it would be had the refund come before the sweep).
    # The locks (renewals_lock, add_on_periods_lock) count the same ones: `TAKEN_BACK`.
    live = {"invoice": invoice, "status__in": [ItemStatus.PENDING, *TAKEN_BACK]}
    started = {"invoice": invoice, "status__in": TAKEN_BACK}
    included = tuple(
        signals.RefundedTokens(
            item_id=subscription_id,
            tokens=tokens,
            reference_type=signals.SUBSCRIPTION_REFERENCE_TYPE,
            reference_id=str(subscription_id),
            description=f"{plan_name}: included tokens taken back ({invoice.number})",
        )
        for subscription_id, tokens, plan_name in Subscription.objects.filter(
            **started, included_tokens__gt=0
        ).values_list("pk", "included_tokens", "plan_name")
    )
    unlimited_ended = tuple(
        Subscription.objects.filter(**started, usage_mode=UsageMode.UNLIMITED).values_list(
            "pk", flat=True
        )
    )
    now = invoice.refunded_at
    unended = set(
        Subscription.objects.filter(**started, expires_at__gt=now).values_list("plan_id", flat=True)
    )
    subscriptions = Subscription.objects.filter(**live).update(status=ItemStatus.CANCELLED)
    # A renewal waiting for the period refunded starts now (renewals_lock took the rows).
    moved = renewals_follow(invoice=invoice, plan_ids=unended, now=now) if unended else ()
    if moved:
        # The seller's systems were told the dates at the payment: they hear the new ones.
        events_emit(notices.subscriptions_moved(invoice.user_id, _moved_rows(moved)))
    add_ons_unended = set(
        AddOnSubscription.objects.filter(**started, expires_at__gt=now).values_list(
            "add_on_id", flat=True
        )
    )
    add_ons = AddOnSubscription.objects.filter(**live).update(status=ItemStatus.CANCELLED)
    if add_ons_unended:
        # An add-on period paid early waiting for one refunded starts now, as a renewal does
        # (add_on_periods_lock took the rows).
        add_on_periods_follow(invoice=invoice, add_on_ids=add_ons_unended, now=now)
    purchases = _locked_purchases(invoice, Purchase.Status.COMPLETED)
    given = tuple(
        signals.RefundedTokens(
            item_id=purchase.pk,
            tokens=purchase.tokens,
            reference_type=signals.PURCHASE_REFERENCE_TYPE,
            reference_id=str(purchase.pk),
            description=f"Refund of {purchase.name} ({invoice.number})",
        )
        for purchase in purchases
    )
    signals.invoice_refunded.send(
        sender=Invoice,
        refunded=signals.InvoiceRefunded(
            invoice_id=invoice.pk,
            user_id=invoice.user_id,
            number=invoice.number,
            refunded_at=invoice.refunded_at,
            purchases=given,
            included=included,
            unlimited_ended=unlimited_ended,
            moved=moved,
        ),
    )
    for purchase, notice in zip(purchases, given, strict=True):
        purchase.status = Purchase.Status.REFUNDED
        purchase.tokens_reversed = notice.taken_back or 0
        # Voided tokens were neither spent nor taken back: the seller had them back already.
        purchase.tokens_unrecovered = purchase.tokens - purchase.tokens_reversed - notice.voided
    if purchases:
        Purchase.objects.bulk_update(purchases, ["status", "tokens_reversed", "tokens_unrecovered"])
    return TakeBack(
        tokens_reversed=sum(purchase.tokens_reversed for purchase in purchases),
        tokens_unrecovered=sum(purchase.tokens_unrecovered for purchase in purchases),
        subscriptions_cancelled=subscriptions,
        addons_cancelled=add_ons,
        included_tokens_voided=sum(notice.taken_back or 0 for notice in included),
    )


def _periods_start(invoice: Invoice, paid_at: datetime) -> list[tuple]:
    """Activates the invoice's pending subscriptions (a checkout buys one plan at most) and
    returns them (id, included tokens, plan name, period, usage mode, start, end).

    A period starts at the payment; one of a plan the user has running still (paid again
    early: a renewal) starts where the latest running period of that plan ends, so that
    the rest of the period paid for is not lost. Those subscriptions are locked first
    (after the invoice, before the token account), with the user's periods of the plan not
    paid yet, this one's among them: a second renewal paid at once, or a second payment of
    the plan when none runs, waits, then reads again (a statement of its own) and starts
    after this one; a refund or an expiry of one that went first has ended it, and the
    period starts at the payment."""
    rows = list(
        Subscription.objects.filter(invoice=invoice, status=ItemStatus.PENDING).values_list(
            "pk", "included_tokens", "plan_name", "billing_period", "usage_mode", "plan_id"
        )
    )
    if not rows:
        return []
    mine = Subscription.objects.filter(
        user_id=invoice.user_id, plan_id__in={row[5] for row in rows}
    )
    running = mine.filter(status__in=TAKEN_BACK, expires_at__gt=paid_at).exclude(invoice=invoice)
    ends = running_ends(running, "plan_id", paying=mine.filter(status=ItemStatus.PENDING))
    started = []
    for pk, tokens, name, period, mode, plan_id in rows:
        starts = max(paid_at, ends.get(plan_id, paid_at))
        expires = starts + PERIODS[period] if period in PERIODS else None
        started.append((pk, tokens, name, period, mode, starts, expires))
    for pk, *_rest, starts, expires in started:
        Subscription.objects.filter(pk=pk, status=ItemStatus.PENDING).update(
            status=ItemStatus.ACTIVE,
            starts_at=starts,
            expires_at=expires,
            updated_at=timezone.now(),
        )
    return started


def _moved_rows(moved: tuple[signals.PeriodMoved, ...]) -> list[tuple]:
    """The moved periods as `notices.subscriptions_moved` takes them: one query."""
    names = {
        pk: (invoice_id, plan_name)
        for pk, invoice_id, plan_name in Subscription.objects.filter(
            pk__in=[period.subscription_id for period in moved]
        ).values_list("pk", "invoice_id", "plan_name")
    }
    return [
        (period.subscription_id, *names[period.subscription_id], period.starts_at, period.ends_at)
        for period in moved
    ]


def _tokens_expiry(paid_at: datetime, days: int | None) -> datetime | None:
    return paid_at + timedelta(days=days) if days else None


def _locked_purchases(invoice: Invoice, status: str) -> list[Purchase]:
    return list(
        Purchase.objects.select_for_update().filter(invoice=invoice, status=status).order_by("id")
    )
