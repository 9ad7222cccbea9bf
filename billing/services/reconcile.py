"""Reconciliation: finish what the webhooks missed, and report what a person must decide:
paid invoices Stripe does not know, payment events flagged for review. (The ledger has its
own audit, `manage.py ledger_check`.)

Each step works in batches (keyset pages of ids), one transaction per invoice, so it runs
beside live traffic with bounded memory and short locks. Every step is idempotent: a second
run right after the first finds nothing to do. With `dry_run`, nothing is written and the
counts say what would be done.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from billing import stripe_gateway
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
from billing.services.invoices import invoice_cancel
from billing.services.stripe_webhook import (
    held_refunds_apply,
    stripe_payment_refund,
    stripe_session_capture,
)
from common import services as common_services
from common.errors import InvalidState
from events.services import events_emit

BATCH_SIZE = 500
# Events needing review are counted; this many of the newest are listed.
REVIEW_LISTED = 100
Progress = Callable[[str, int], None]


def _no_progress(step: str, advance: int) -> None:
    """Progress reports go nowhere unless the command shows them."""


@dataclass
class ReconcileReport:
    dry_run: bool
    paid_invoices_completed: int = 0
    held_refunds_applied: int = 0
    stripe_sessions_checked: int = 0
    invoices_captured: int = 0
    invoices_cancelled: int = 0
    subscriptions_expired: int = 0
    idempotency_records_purged: int = 0
    paid_invoices_verified: int = 0
    invoices_refunded: int = 0
    payments_needing_review: int = 0
    stripe_errors: list[str] = field(default_factory=list)
    unknown_to_provider: list[str] = field(default_factory=list)
    needs_review: list[str] = field(default_factory=list)

    @property
    def actions(self) -> int:
        return (
            self.paid_invoices_completed
            + self.held_refunds_applied
            + self.invoices_captured
            + self.invoices_cancelled
            + self.subscriptions_expired
            + self.idempotency_records_purged
            + self.invoices_refunded
        )


def _in_batches(queryset: QuerySet) -> Iterator[list[UUID]]:
    last = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        ids = list(page.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return
        yield ids
        last = ids[-1]


def paid_invoices_incomplete() -> QuerySet[Invoice]:
    """Paid invoices with something still pending: a capture whose fan-out did not finish."""
    pending = {"invoice": OuterRef("pk"), "status": ItemStatus.PENDING}
    return Invoice.objects.filter(status=Invoice.Status.PAID).filter(
        Exists(Subscription.objects.filter(**pending))
        | Exists(AddOnSubscription.objects.filter(**pending))
        | Exists(
            TokenBundlePurchase.objects.filter(
                invoice=OuterRef("pk"), status=TokenBundlePurchase.Status.PENDING
            )
        )
    )


def paid_invoices_complete(report: ReconcileReport, progress: Progress = _no_progress) -> None:
    """Finishes them with the capture's own delivery (it acts on what is still pending). An
    invoice listed paid may have been refunded before its row was locked: it is left as the
    refund left it (delivering it then credited tokens whose money had gone back)."""
    for ids in _in_batches(paid_invoices_incomplete()):
        for invoice_id in ids:
            if not report.dry_run:
                with transaction.atomic():
                    invoice = invoice_get(invoice_id=invoice_id, for_update=True)
                    if invoice.status != Invoice.Status.PAID:
                        continue
                    invoice_deliver(invoice=invoice)
            report.paid_invoices_completed += 1
            progress("paid invoices", 1)


def held_refunds(report: ReconcileReport) -> None:
    if report.dry_run:
        references = PaymentEvent.objects.filter(outcome=PaymentEvent.Outcome.HELD).values(
            "payment_reference"
        )
        report.held_refunds_applied = Invoice.objects.filter(
            provider=Invoice.Provider.STRIPE, payment_reference__in=references
        ).count()
        return
    report.held_refunds_applied = held_refunds_apply()


def stale_stripe_sessions(
    report: ReconcileReport,
    *,
    older_than: timedelta,
    expire_after: timedelta,
    progress: Progress = _no_progress,
) -> None:
    """Asks Stripe about pending invoices whose session is older than `older_than`: paid there
    means capture; expired there, or an invoice older than `expire_after`, means cancel.

    Stripe is called outside any transaction; when it fails, the invoice is reported and left
    as it is.
    """
    now = timezone.now()
    stale = Invoice.objects.filter(
        status=Invoice.Status.PENDING, stripe_session_created_at__lt=now - older_than
    ).exclude(stripe_session_id="")
    for ids in _in_batches(stale):
        for invoice in Invoice.objects.select_related("currency").filter(pk__in=ids).order_by("pk"):
            _stale_session_resolve(report, invoice, now - expire_after)
            progress("stripe sessions", 1)


def _stale_session_resolve(report: ReconcileReport, invoice: Invoice, too_old: datetime) -> None:
    report.stripe_sessions_checked += 1
    try:
        session = stripe_gateway.checkout_session_retrieve(session_id=invoice.stripe_session_id)
    except stripe_gateway.PaymentUnknownToStripe:
        # Made with the other mode's keys: only the invoice's age can decide. Cancelling it
        # sooner would end the pending invoices of every open session if the keys were
        # switched by mistake; by then (72 h) Stripe has expired the session in any mode.
        if invoice.created_at < too_old:
            _stale_invoice_cancel(report, invoice)
        return
    except stripe_gateway.PaymentProviderError as error:
        report.stripe_errors.append(f"{invoice.number}: {error.message}")
        return
    if session.payment_status == "paid":
        report.invoices_captured += 1
        if not report.dry_run:
            with transaction.atomic():
                handled = stripe_session_capture(
                    {
                        "id": session.id,
                        "payment_status": session.payment_status,
                        "amount_total": session.amount_total,
                        "currency": session.currency,
                        "payment_intent": session.payment_intent,
                        "client_reference_id": session.client_reference_id or str(invoice.pk),
                    }
                )
            if handled.outcome == PaymentEvent.Outcome.NEEDS_REVIEW:
                report.invoices_captured -= 1
                report.needs_review.append(f"{invoice.number}: {handled.error}")
        return
    if session.status == "complete":
        return  # a payment that takes days (a bank debit) is on its way: never cancelled
    if session.status == "expired" or invoice.created_at < too_old:
        _stale_invoice_cancel(report, invoice)


def _stale_invoice_cancel(report: ReconcileReport, invoice: Invoice) -> None:
    report.invoices_cancelled += 1
    if not report.dry_run:
        try:
            invoice_cancel(invoice_id=invoice.pk)
        except InvalidState:
            report.invoices_cancelled -= 1
        except stripe_gateway.PaymentProviderError as error:
            report.invoices_cancelled -= 1
            report.stripe_errors.append(f"{invoice.number}: {error.message}")


def subscriptions_expire(report: ReconcileReport) -> None:
    """Active subscriptions and add-ons past their end become expired."""
    over = Q(status=ItemStatus.ACTIVE, expires_at__lt=timezone.now())
    rows = [Subscription.objects.filter(over), AddOnSubscription.objects.filter(over)]
    if report.dry_run:
        report.subscriptions_expired = sum(queryset.count() for queryset in rows)
        return
    with transaction.atomic():
        ended = list(Subscription.objects.filter(over).select_for_update().order_by("pk"))
        add_ons = AddOnSubscription.objects.filter(over).update(status=ItemStatus.EXPIRED)
        Subscription.objects.filter(pk__in=[s.pk for s in ended]).update(status=ItemStatus.EXPIRED)
        events_emit([notices.subscription_expired(subscription) for subscription in ended])
        report.subscriptions_expired = len(ended) + add_ons


def idempotency_purge(report: ReconcileReport) -> None:
    report.idempotency_records_purged = common_services.idempotency_records_purge(
        older_than=timezone.now() - common_services.RETENTION, dry_run=report.dry_run
    )


def paid_invoices_verify(
    report: ReconcileReport, *, paid_within: timedelta, progress: Progress = _no_progress
) -> None:
    """Asks Stripe about every invoice paid through it in the last `paid_within`: a payment
    it does not know, did not complete, or took for another amount is listed, and nothing is
    changed (refunding, cancelling or chasing the money is a person's decision). A payment
    Stripe has refunded whole, whose `charge.refunded` webhook never came, is refunded here
    as that webhook would have (a refund is not a decision left: the money went back); one
    refunded in part is listed for a person, as that webhook would have flagged it.
    Payments of the provider-neutral webhook and those marked paid by staff have nobody to
    ask. Stripe is called outside any transaction.
    """
    recent = Invoice.objects.filter(
        provider=Invoice.Provider.STRIPE,
        status=Invoice.Status.PAID,
        paid_at__gte=timezone.now() - paid_within,
    )
    for ids in _in_batches(recent):
        for invoice in Invoice.objects.select_related("currency").filter(pk__in=ids).order_by("pk"):
            _paid_invoice_verify(report, invoice)
            progress("paid invoices verified", 1)


def _paid_invoice_verify(report: ReconcileReport, invoice: Invoice) -> None:
    report.paid_invoices_verified += 1
    reference = invoice.payment_reference
    try:
        payment = stripe_gateway.payment_retrieve(payment_reference=reference)
    except stripe_gateway.PaymentUnknownToStripe:
        report.unknown_to_provider.append(
            f"{invoice.number}: paid here with {reference}; Stripe does not know this payment"
        )
        return
    except stripe_gateway.PaymentProviderError as error:
        report.stripe_errors.append(f"{invoice.number}: {error.message}")
        return
    expected = (invoice.total_in_minor_units(), invoice.currency.code)
    if not payment.paid or (payment.amount, payment.currency) != expected:
        report.unknown_to_provider.append(
            f"{invoice.number}: paid here with {reference} for {expected[0]} {expected[1]}; "
            f"Stripe says {payment.status}, {payment.amount} {payment.currency}"
        )
        return
    if payment.refunded:
        _refund_apply(report, invoice)
    elif payment.amount_refunded and not _refund_heard_of(reference, payment.amount_refunded):
        report.needs_review.append(
            f"{invoice.number}: Stripe has refunded {payment.amount_refunded} of "
            f"{payment.amount} {payment.currency} of {reference}, and no charge.refunded "
            "webhook told of it; only whole refunds are applied here."
        )


def _refund_heard_of(reference: str, amount_refunded: int) -> bool:
    """Whether a `charge.refunded` of the payment told of `amount_refunded`: it is listed then
    as the payment event that needs review (or settled by a person already). One that told
    of less, an earlier partial refund's, leaves the rest unheard of."""
    payloads = PaymentEvent.objects.filter(
        provider=Invoice.Provider.STRIPE,
        event_type="charge.refunded",
        payment_reference=reference,
        signature_valid=True,
    ).values_list("payload", flat=True)
    return any(_amount_refunded(payload) >= amount_refunded for payload in payloads)


def _amount_refunded(payload: str) -> int:
    """What a recorded `charge.refunded` says was refunded; 0 when it cannot be read."""
    try:
        return int(json.loads(payload)["data"]["object"].get("amount_refunded") or 0)
    except (AttributeError, KeyError, RecursionError, TypeError, ValueError):
        return 0


def _refund_apply(report: ReconcileReport, invoice: Invoice) -> None:
    """The same refund as the lost webhook's: its later delivery is `already_processed`."""
    report.invoices_refunded += 1
    if report.dry_run:
        return
    with transaction.atomic():
        handled = stripe_payment_refund(invoice.payment_reference, invoice_id=invoice.pk)
    if handled.outcome != PaymentEvent.Outcome.PROCESSED:
        report.invoices_refunded -= 1
        if handled.outcome == PaymentEvent.Outcome.NEEDS_REVIEW:
            report.needs_review.append(f"{invoice.number}: {handled.error}")


def payments_needing_review(report: ReconcileReport) -> None:
    """Counts the payment events flagged `needs_review` (paid at the provider but not
    capturable here, partial refunds, ...) and lists the newest: each waits for a person
    (staff re-process or settle them in the admin)."""
    flagged = PaymentEvent.objects.filter(outcome=PaymentEvent.Outcome.NEEDS_REVIEW)
    report.payments_needing_review = flagged.count()
    for event in flagged.select_related("invoice").order_by("-received_at", "pk")[:REVIEW_LISTED]:
        about = f" for {event.invoice.number}" if event.invoice else ""
        report.needs_review.append(
            f"{event.provider} event {event.event_id or event.pk} "
            f"({event.event_type or 'no type'}){about}: {event.error}"
        )
