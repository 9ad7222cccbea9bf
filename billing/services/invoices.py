"""Cancelling a pending invoice, and those of add-ons whose plan a refund or its expiry ended
(capture and refund have modules of their own).

A cancelled invoice whose `stripe_session_expires_at` is still set has a Stripe Checkout
Session that may have taken a payment: its end at Stripe has not been confirmed. Each
cancel that confirms it clears that time; `reconcile_purchases` asks Stripe again for the
others (billing.services.sessions)."""

from __future__ import annotations

import logging
from functools import partial
from uuid import UUID

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    ItemStatus,
    Subscription,
    TokenBundlePurchase,
)
from billing.selectors import invoice_get, subscription_active
from billing.services.payments import stripe_session_end
from billing.services.sessions import session_end_recorded
from billing.stripe_gateway import PaymentProviderError
from common.audit import staff_action_record
from common.db import require_transaction
from common.errors import InvalidState

logger = logging.getLogger(__name__)


def invoice_cancel(
    *,
    invoice_id: UUID,
    user_id: UUID | None = None,
    actor_id: UUID | None = None,
    as_read: Invoice | None = None,
) -> Invoice:
    """Cancels a pending invoice and everything on it.

    A Stripe Checkout Session still open for it is expired first, outside any transaction:
    the customer's Stripe tab would otherwise still take the money of an invoice that no
    longer credits it. With `user_id`, another user's invoice is NotFound. Raises
    InvalidState unless pending, when Stripe has taken a payment for it (its webhook
    captures the invoice) or when a new payment was started meanwhile; PaymentProviderError
    when Stripe cannot be asked. Nothing changes then. `actor_id`, staff cancelling it, is
    recorded with the cancellation (common.audit). `as_read`: the invoice as a caller judged
    it (the stale-session sweep, from the session it asked Stripe about): only that session
    is ended, and the invoice is cancelled only while it is still the invoice's, so that a
    customer who clicked Pay since keeps the new one.
    """
    invoice = as_read or invoice_get(invoice_id=invoice_id, user_id=user_id)
    if invoice.status == Invoice.Status.PENDING:
        stripe_session_end(invoice)
    return _cancel(
        invoice_id, user_id, stripe_session_id=invoice.stripe_session_id, actor_id=actor_id
    )


@transaction.atomic
def _cancel(
    invoice_id: UUID, user_id: UUID | None, *, stripe_session_id: str, actor_id: UUID | None
) -> Invoice:
    """The invoice row lock orders this against a capture racing it, so exactly one wins."""
    invoice = invoice_get(invoice_id=invoice_id, user_id=user_id, for_update=True)
    if invoice.status != Invoice.Status.PENDING:
        raise InvalidState(
            f"Only a pending invoice can be cancelled; this one is {invoice.status}."
        )
    if invoice.stripe_session_id != stripe_session_id:
        raise InvalidState(
            "A payment was started for this invoice meanwhile; cancel it again to end it too."
        )
    _cancelled(invoice, session_ended=True)
    staff_action_record(actor_id=actor_id, instances=[invoice], message="Cancelled.")
    return invoice


def add_on_checkouts_cancel(
    *, plan_invoice_id: UUID, user_id: UUID, renewal_id: UUID | None = None
) -> int:
    """Cancels the pending invoices whose add-ons rely on a subscription this invoice bought
    (a checkout of add-ons without a plan), inside the caller's transaction, when a refund
    ends the last plan the user has. With `renewal_id` (a period of the same plan the refund
    has locked, `renewals_lock`) the customer still has that plan: those add-ons rely on it
    from now on instead, and nothing is cancelled (no new lock: the same invoices, in the
    same order); so do the add-ons paid alone that rely on it, moved by the refund once it
    has locked the add-on rows (`add_ons_paid_alone_onto_renewal`). Without one, when another
    plan of the user's runs (an upgrade, or a renewal of a period that has ended but was not
    yet swept), the checkouts rely on it from now on, as the expiry's sweep moves them: the
    customer still has a plan, and cancelling took away what they had every right to buy.
    That plan is read FOR SHARE after the refund's own subscriptions, as the sweep reads it
    after the period it ends; a refund of that plan at once (its own lock, then this one's
    period FOR SHARE) meets this one in a circle PostgreSQL ends by rolling one back, which
    runs once more (`once_more_if_rolled_back_for_another`, around the refund).

    The subscriptions are locked first (a checkout relying on one holds it FOR SHARE until
    it commits, and is found), then their invoices in id order, after the caller's own and
    before the refund takes tokens back: a capture of one locks it and then the token
    account, so it goes first or finds it cancelled. A Stripe Checkout Session still open
    for one is expired once the refund commits (an HTTP call, never inside the
    transaction), so that the customer's Stripe tab no longer takes money for it; one
    Stripe could not be asked about is asked again by `reconcile_purchases`.
    Returns how many were cancelled."""
    require_transaction("add_on_checkouts_cancel")
    list(
        Subscription.objects.select_for_update(no_key=True)
        .filter(invoice_id=plan_invoice_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    relying = Q(subscription__invoice_id=plan_invoice_id)
    if renewal_id is None:
        return _relying_to_the_plan_that_runs(
            relying, user_id=user_id, other_than_invoice_id=plan_invoice_id
        )
    _relying_move(relying, renewal_id)
    return 0


def add_ons_paid_alone_onto_renewal(*, plan_invoice_id: UUID, renewal_id: UUID) -> None:
    """Add-ons paid on invoices of their own (no item of the refunded one, their money stays
    paid) that relied on its subscription go on, on the renewal, where the customer sees
    them. Their rows were locked in id order with the refund's other add-on rows
    (`renewals.add_on_periods_lock`), after the invoices `add_on_checkouts_cancel` locks:
    a capture or refund of one locks it before them."""
    require_transaction("add_ons_paid_alone_onto_renewal")
    AddOnSubscription.objects.filter(
        subscription__invoice_id=plan_invoice_id, status=ItemStatus.ACTIVE
    ).exclude(invoice_id=plan_invoice_id).update(
        subscription_id=renewal_id, updated_at=timezone.now()
    )


def add_on_checkouts_of_expired_end(*, subscription: Subscription) -> int:
    """The pending checkouts whose add-ons rely on this subscription, which the expiry has
    just ended (and locked, by its UPDATE), inside the caller's transaction. When the user
    has another plan running (a renewal, paid), they rely on it from now on: the customer
    still has a plan, and the add-ons' own periods start when they are paid. Otherwise, as
    for a refunded plan, the add-ons they would buy have no plan any more: cancelled.

    The plan that runs is read FOR SHARE, as a checkout reads it, before the invoices are
    locked in id order: a refund of it that went first is waited for and seen (no plan, so
    cancelled), one that comes second waits and then finds the checkouts relying on it and
    cancels them. Never a plan another sweep is ending: that one's period is over too.
    Returns how many checkouts were cancelled."""
    require_transaction("add_on_checkouts_of_expired_end")
    return _relying_to_the_plan_that_runs(
        Q(subscription_id=subscription.pk), user_id=subscription.user_id
    )


def add_on_checkouts_expiry_order(*, subscription_id: UUID) -> None:
    """Before the sweep's UPDATE ends this subscription, inside its transaction: when pending
    checkouts of add-ons rely on it and the plan they will move onto (the user's newest that
    runs, read FOR SHARE by add_on_checkouts_of_expired_end after the UPDATE) sorts before
    it, that plan is read FOR SHARE first. The sweep then takes the two in id order, as a
    refund of the period takes it and its renewal (renewals_lock), so the two no longer meet
    in a circle at the instant the period ends; PostgreSQL rolled one back, and the one run
    again at once could take the period before the other, woken, had locked it, and meet it
    again. Up to three queries, one when no checkout relies on it."""
    require_transaction("add_on_checkouts_expiry_order")
    user_id = next(
        iter(
            AddOnSubscription.objects.filter(
                subscription_id=subscription_id, status=ItemStatus.PENDING
            )
            .order_by("pk")
            .values_list("subscription__user_id", flat=True)[:1]
        ),
        None,
    )
    if user_id is None:
        return
    running = subscription_active(user_id=user_id)  # not this one: its period is over
    if running is not None and running.pk < subscription_id:
        subscription_active(user_id=user_id, for_share=True)


def _relying_to_the_plan_that_runs(
    parent: Q, *, user_id: UUID, other_than_invoice_id: UUID | None = None
) -> int:
    """The pending add-ons relying on `parent` rely on the user's plan that runs (read FOR
    SHARE, before their invoices are locked), or, with none, their checkouts are cancelled.
    Returns how many were cancelled."""
    if not AddOnSubscription.objects.filter(parent, status=ItemStatus.PENDING).exists():
        return 0
    running = subscription_active(
        user_id=user_id, for_share=True, other_than_invoice_id=other_than_invoice_id
    )
    if running is None:
        return _relying_cancel(parent)
    _relying_move(parent, running.pk)
    return 0


def _relying_move(parent: Q, subscription_id: UUID) -> None:
    """The pending add-ons relying on `parent` rely on `subscription_id` from now on; their
    invoices are locked first, in id order (a capture of one has gone first, or sees it)."""
    invoices = _relying_locked(parent)
    AddOnSubscription.objects.filter(
        parent, invoice__in=invoices, status=ItemStatus.PENDING
    ).update(subscription_id=subscription_id, updated_at=timezone.now())


def _relying_locked(parent: Q) -> list[Invoice]:
    """The pending invoices of add-ons relying on `parent`, locked in id order, then their
    add-on periods not paid yet, in id order: a capture of the same add-on on another
    checkout locks those in that order (`renewals.running_ends`), and writing them one
    invoice after another met it in a circle."""
    relying = AddOnSubscription.objects.filter(parent, status=ItemStatus.PENDING)
    invoices = list(
        Invoice.objects.select_for_update()
        .filter(pk__in=relying.values("invoice_id"), status=Invoice.Status.PENDING)
        .order_by("pk")
    )
    if invoices:
        list(
            AddOnSubscription.objects.select_for_update(no_key=True)
            .filter(invoice__in=invoices, status=ItemStatus.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return invoices


def _relying_cancel(parent: Q) -> int:
    invoices = _relying_locked(parent)
    for invoice in invoices:
        _cancelled(invoice, session_ended=False)
        if invoice.stripe_session_id:
            # robust, as after a capture: anything unforeseen there is logged by Django, and
            # the committed refund or sweep still answers as one.
            transaction.on_commit(partial(_session_end_after_cancel, invoice), robust=True)
    return len(invoices)


def _session_end_after_cancel(invoice: Invoice) -> None:
    """The session of an invoice cancelled already, right after the cancel commits. When
    Stripe cannot be asked, or says the session took a payment, `reconcile_purchases` asks
    again (the cancel stands meanwhile) and flags such a payment for a person."""
    try:
        session_end_recorded(invoice)
    except PaymentProviderError as error:
        logger.warning(
            "The Stripe session %s of cancelled invoice %s was not expired (%s); "
            "reconcile_purchases asks Stripe again.",
            invoice.stripe_session_id,
            invoice.number,
            error,
        )


def _cancelled(invoice: Invoice, *, session_ended: bool) -> None:
    """Marks a pending (and locked) invoice cancelled, and everything on it. `session_ended`
    when its Stripe session (if any) was expired before: it can take no payment any more."""
    invoice.status = Invoice.Status.CANCELLED
    invoice.cancelled_at = timezone.now()
    fields = ["status", "cancelled_at", "updated_at"]
    if session_ended and invoice.stripe_session_id:
        invoice.stripe_session_expires_at = None
        fields.append("stripe_session_expires_at")
    invoice.save(update_fields=fields)
    pending = {"invoice": invoice, "status": ItemStatus.PENDING}
    Subscription.objects.filter(**pending).update(status=ItemStatus.CANCELLED)
    AddOnSubscription.objects.filter(**pending).update(status=ItemStatus.CANCELLED)
    TokenBundlePurchase.objects.filter(
        invoice=invoice, status=TokenBundlePurchase.Status.PENDING
    ).update(status=TokenBundlePurchase.Status.CANCELLED)
