"""The steps that need only the database: finish deliveries, apply held refunds, expire
subscriptions, purge idempotency records, count what waits for a person."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from django.db import transaction
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    ItemStatus,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.selectors import invoice_get
from billing.services import notices
from billing.services.fulfilment import invoice_deliver
from billing.services.invoices import (
    add_on_checkouts_expiry_order,
    add_on_checkouts_of_expired_end,
)
from billing.services.reconcile.report import (
    BATCH_SIZE,
    REVIEW_LISTED,
    Progress,
    ReconcileReport,
    no_progress,
    on_its_own,
)
from billing.services.stripe_webhook import held_refund_apply, held_refunds_captured
from common import services as common_services
from common.db import once_more_if_rolled_back_for_another
from events.services import events_emit


def pending_items_invoices() -> QuerySet:
    """The invoice ids of pending items (plans, add-ons, bundles) along their partial
    indexes (migration 0015): those of invoices still waiting for their payment, and of
    paid ones whose capture's fan-out did not finish."""
    waiting = (
        model.objects.filter(status=ItemStatus.PENDING)
        .order_by()
        .values_list("invoice_id", flat=True)
        for model in (Subscription, AddOnSubscription)
    )
    purchases = TokenBundlePurchase.objects.filter(status=TokenBundlePurchase.Status.PENDING)
    return next(waiting).union(*waiting, purchases.order_by().values_list("invoice_id", flat=True))


def paid_invoices_incomplete() -> QuerySet[Invoice]:
    """Paid invoices with something still pending: a capture whose fan-out did not finish."""
    return Invoice.objects.filter(status=Invoice.Status.PAID, pk__in=pending_items_invoices())


def paid_invoices_complete(report: ReconcileReport, progress: Progress = no_progress) -> None:
    """Finishes them with the capture's own delivery (it acts on what is still pending). An
    invoice listed paid may have been refunded before its row was locked: it is left as the
    refund left it (delivering it then credited tokens whose money had gone back).

    Read from the pending items, their invoices then looked up by key 500 at a time: asked
    as "paid, and a pending item exists" (an OR of three EXISTS), or as
    paid_invoices_incomplete in pages of `ORDER BY id LIMIT 500` once pending invoices were
    many, PostgreSQL walked the primary key through every paid invoice (docs/decisions.md).
    The list holds an id per invoice with a pending item."""
    waiting = sorted(set(pending_items_invoices()))
    for start in range(0, len(waiting), BATCH_SIZE):
        paid = Invoice.objects.filter(
            status=Invoice.Status.PAID, pk__in=waiting[start : start + BATCH_SIZE]
        )
        for invoice_id, number in paid.order_by("pk").values_list("pk", "number"):
            on_its_own(report, number, partial(_complete, report, invoice_id))
            progress("paid invoices", 1)


def _complete(report: ReconcileReport, invoice_id: UUID) -> None:
    if not report.dry_run:
        with transaction.atomic():
            invoice = invoice_get(invoice_id=invoice_id, for_update=True)
            if invoice.status != Invoice.Status.PAID or not _items_pending(invoice_id):
                return
            invoice_deliver(invoice=invoice)
    report.paid_invoices_completed += 1


def _items_pending(invoice_id: UUID) -> bool:
    """Whether the (locked) paid invoice still has an item pending. Its pending items were
    read before it was found paid: a capture that committed in between has delivered
    everything itself, and delivering again announced `invoice.paid` to the seller's
    systems a second time (and counted the invoice completed). One query."""
    pending = [
        model.objects.filter(invoice_id=invoice_id, status=ItemStatus.PENDING)
        for model in (Subscription, AddOnSubscription)
    ]
    purchases = TokenBundlePurchase.objects.filter(
        invoice_id=invoice_id, status=TokenBundlePurchase.Status.PENDING
    )
    return Invoice.objects.filter(
        Exists(pending[0]) | Exists(pending[1]) | Exists(purchases), pk=invoice_id
    ).exists()


def held_refunds(report: ReconcileReport) -> None:
    """Applies the refunds held for a capture that has arrived since, each payment on its own."""
    captured = held_refunds_captured().order_by("pk").values_list("number", "payment_reference")
    for number, reference in captured:
        on_its_own(report, number, partial(_held_refund_apply, report, reference))


def _held_refund_apply(report: ReconcileReport, reference: str) -> None:
    if not report.dry_run:
        held_refund_apply(reference)
    report.held_refunds_applied += 1


def subscriptions_expire(report: ReconcileReport) -> None:
    """Active subscriptions and add-ons at or past their end become expired, each on its own (a
    transaction of its own, one conditional UPDATE): one held past the lock timeout by a
    stuck transaction is named in `report.failed` by its invoice and holds up no other,
    which would otherwise go on covering usage, its end untold, while the lock was held."""
    now = timezone.now()
    over = Q(status=ItemStatus.ACTIVE, expires_at__lte=now)
    if report.dry_run:
        report.subscriptions_expired = sum(
            model.objects.filter(over).count() for model in (Subscription, AddOnSubscription)
        )
        return
    for model in (Subscription, AddOnSubscription):
        # In one statement, not in pages of `ORDER BY id LIMIT 500`: with many
        # periods active, PostgreSQL, taking "active" and "ended" as unrelated, expects
        # thousands where a few have just ended, and for such a page walks the primary key
        # through the whole table. Unpaged, it reads the partial index of active periods by
        # their end (migration 0013). The ids are those ended since the last sweep.
        ended = list(model.objects.filter(over).order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ended), BATCH_SIZE):
            for item_id, number in (
                model.objects.filter(pk__in=ended[start : start + BATCH_SIZE])
                .order_by("pk")
                .values_list("pk", "invoice__number")
            ):
                on_its_own(report, number, partial(_expire, report, model, item_id, over))


class SubscriptionsIncomplete(Exception):
    """Some ended periods could not be recorded expired (each is logged); the others were."""


def ended_subscriptions_expire() -> int:
    """`subscriptions_expire` on its own, for the worker's sweep each minute; returns how many
    ended. Raises SubscriptionsIncomplete naming those it could not end, once it has ended
    the others. A period the hourly reconciliation reaches at the same time ends once."""
    report = ReconcileReport(dry_run=False)
    subscriptions_expire(report)
    if report.failed:
        raise SubscriptionsIncomplete(", ".join(report.failed))
    return report.subscriptions_expired


def _expire(
    report: ReconcileReport,
    model: type[Subscription] | type[AddOnSubscription],
    item_id: UUID,
    over: Q,
) -> None:
    """At the instant a period ends, a refund of it whose clock is still inside it locks it
    and its renewal in id order (renewals_lock), and this takes the two in id order too
    (add_on_checkouts_expiry_order): whichever comes second waits. Should PostgreSQL still
    roll this back for another transaction, it runs once more rather than failing the run."""
    if once_more_if_rolled_back_for_another(partial(_expired, model, item_id, over)):
        report.subscriptions_expired += 1


def _expired(model: type[Subscription] | type[AddOnSubscription], item_id: UUID, over: Q) -> bool:
    with transaction.atomic():
        if model is Subscription:
            add_on_checkouts_expiry_order(subscription_id=item_id)
        ended = model.objects.filter(over, pk=item_id)
        if not ended.update(status=ItemStatus.EXPIRED, updated_at=timezone.now()):
            return False  # ended otherwise meanwhile (refunded, cancelled)
        if model is Subscription:
            subscription = Subscription.objects.get(pk=item_id)
            events_emit([notices.subscription_expired(subscription)])
            # Checkouts of add-ons bought alone relied on this plan: they move to the plan
            # that runs (a renewal), or end with it.
            add_on_checkouts_of_expired_end(subscription=subscription)
    return True


def idempotency_purge(report: ReconcileReport) -> None:
    report.idempotency_records_purged = common_services.idempotency_records_purge(
        older_than=timezone.now() - common_services.RETENTION, dry_run=report.dry_run
    )


def payments_needing_review(report: ReconcileReport) -> None:
    """Counts the payment events flagged `needs_review` (paid at the provider but not
    capturable here, partial refunds, ...) that nobody has settled yet, and lists the newest:
    each waits for a person (staff re-process it, or mark it handled in the admin, and it is
    no longer counted, so the count tells new trouble from old)."""
    flagged = PaymentEvent.objects.filter(
        outcome=PaymentEvent.Outcome.NEEDS_REVIEW, handled_at__isnull=True
    )
    report.payments_needing_review = flagged.count()
    for event in flagged.select_related("invoice").order_by("-received_at", "pk")[:REVIEW_LISTED]:
        about = f" for {event.invoice.number}" if event.invoice else ""
        report.needs_review.append(
            f"{event.provider} event {event.event_id or event.pk} "
            f"({event.event_type or 'no type'}){about}: {event.error}"
        )
