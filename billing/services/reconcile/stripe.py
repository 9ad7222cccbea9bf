"""The steps that ask Stripe, each call outside any transaction: sessions left pending, and
what Stripe says of the payments it took."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, PaymentEvent
from billing.services.invoices import invoice_cancel
from billing.services.payments import session_payment_failed
from billing.services.reconcile.report import (
    BATCH_SIZE,
    Progress,
    ReconcileReport,
    no_progress,
    on_its_own,
)
from billing.services.sessions import (
    session_end_recorded,
    session_ended_record,
    sessions_unconfirmed_ids,
)
from billing.services.stripe_webhook import (
    stripe_payment_refund,
    stripe_session_capture,
    stripe_session_payment_recover,
)
from billing.services.stripe_webhook.payments import event_object
from common.errors import InvalidState


def stale_stripe_sessions(
    report: ReconcileReport,
    *,
    older_than: timedelta,
    expire_after: timedelta,
    progress: Progress = no_progress,
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
    # In one statement, not in pages of `ORDER BY id LIMIT 500`: with many
    # invoices pending (a burst of checkouts), PostgreSQL, taking "pending" and "a session
    # older than an hour" as unrelated (most invoices' sessions are old), expects thousands
    # where a few are stale, and for such a page walks the primary key through the whole
    # table. Unpaged, it reads the pending invoices along billing_invoice_status_age. The
    # list holds at most the pending invoices.
    stale_ids = list(stale.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(stale_ids), BATCH_SIZE):
        ids = stale_ids[start : start + BATCH_SIZE]
        for invoice in Invoice.objects.select_related("currency").filter(pk__in=ids).order_by("pk"):
            resolve = partial(_stale_session_resolve, report, invoice, now - expire_after)
            on_its_own(report, invoice.number, resolve)
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
        if not report.dry_run:
            with transaction.atomic():
                handled = stripe_session_capture(_session_paid(session, invoice))
            if handled.outcome == PaymentEvent.Outcome.NEEDS_REVIEW:
                report.needs_review.append(f"{invoice.number}: {handled.error}")
                return
            if handled.outcome != PaymentEvent.Outcome.PROCESSED:
                # Its webhook captured it since the invoice was read: not this run's capture.
                return
        report.invoices_captured += 1
        return
    if session.status == "complete":
        # A payment that takes days (a bank debit) is on its way: never cancelled. One whose
        # debit failed has ended, as an expired session has.
        try:
            if not session_payment_failed(session):
                return
        except stripe_gateway.PaymentProviderError as error:
            report.stripe_errors.append(f"{invoice.number}: {error.message}")
            return
    if session.status == "expired" or invoice.created_at < too_old:
        _stale_invoice_cancel(report, invoice)


def _session_paid(session: stripe_gateway.CheckoutSession, invoice: Invoice) -> dict:
    """A paid session as its `checkout.session.completed` event carries it."""
    return {
        "id": session.id,
        "payment_status": session.payment_status,
        "amount_total": session.amount_total,
        "currency": session.currency,
        "payment_intent": session.payment_intent,
        "client_reference_id": session.client_reference_id or str(invoice.pk),
    }


def _stale_invoice_cancel(report: ReconcileReport, invoice: Invoice) -> None:
    """Cancels the invoice only while the session the sweep judged (the one read with it) is
    still its session. The customer may have clicked Pay since and be on a new session's
    page: read again, the invoice's current session was ended and the invoice cancelled
    under them. The judged session is expired first (InvalidState when it took a payment);
    then, under the invoice's lock, a new session stored meanwhile leaves the invoice as it
    is (InvalidState), and one stored later finds it cancelled."""
    if not report.dry_run:
        try:
            invoice_cancel(invoice_id=invoice.pk, as_read=invoice)
        except InvalidState:
            return
        except stripe_gateway.PaymentProviderError as error:
            report.stripe_errors.append(f"{invoice.number}: {error.message}")
            return
    report.invoices_cancelled += 1


def unconfirmed_sessions_expire(report: ReconcileReport) -> None:
    """Asks Stripe again to expire the sessions of invoices that no longer wait for them,
    which it could not be asked about at the time: cancelled (by the sweep of an ended plan,
    or a plan's refund: checkouts of add-ons alone), or paid through another provider (the
    payment webhook, a test payment). Until then the customer's Stripe tab still took a
    payment that nothing here credits. A session that took one (before the invoice stopped
    waiting for it, or before Stripe could be asked), whose webhook never came, is flagged
    `needs_review` here as that webhook would have (credited nothing; a person returns it),
    also once the session's own end has passed. Stripe failing again is a Stripe error of
    the run (run again later); the cancel or the capture stands either way. Run after the
    sweep, so that one it could not end is retried at once, and before the payments needing
    review are counted."""
    unconfirmed = sessions_unconfirmed_ids()
    for start in range(0, len(unconfirmed), BATCH_SIZE):
        ids = unconfirmed[start : start + BATCH_SIZE]
        for invoice in Invoice.objects.filter(pk__in=ids).order_by("pk"):
            on_its_own(report, invoice.number, partial(_session_end, report, invoice))


def _session_end(report: ReconcileReport, invoice: Invoice) -> None:
    if report.dry_run:
        report.stripe_sessions_expired += 1
        return
    try:
        took = session_end_recorded(invoice)
    except stripe_gateway.PaymentProviderError as error:
        report.stripe_errors.append(f"{invoice.number}: {error.message}")
        return
    if took is None:
        report.stripe_sessions_expired += 1
    elif took.payment_status == "paid":
        # Its webhook flagged it, or this does; either way it is counted and listed among
        # the payments needing review until a person settles it.
        stripe_session_payment_recover(_session_paid(took, invoice))
        session_ended_record(invoice)


def paid_invoices_verify(
    report: ReconcileReport, *, paid_within: timedelta, progress: Progress = no_progress
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
    # In one statement, not in pages of `ORDER BY id LIMIT 500`: with many
    # payments of the day through another provider, PostgreSQL, taking "paid today" and
    # "through Stripe" as unrelated, expects thousands where there are a few hundred, and
    # for such a page walks the primary key through the whole table. Unpaged, it reads
    # billing_invoice_stripe_paid (migration 0014). The list holds a day's Stripe payments.
    recent_ids = list(recent.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(recent_ids), BATCH_SIZE):
        ids = recent_ids[start : start + BATCH_SIZE]
        for invoice in Invoice.objects.select_related("currency").filter(pk__in=ids).order_by("pk"):
            on_its_own(report, invoice.number, partial(_paid_invoice_verify, report, invoice))
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
            f"{invoice.number}: paid here with {reference} for "
            f"{stripe_gateway.stripe_amount_text(*expected)}; Stripe says {payment.status}, "
            f"{stripe_gateway.stripe_amount_text(payment.amount, payment.currency)}"
        )
        return
    if payment.refunded:
        _refund_apply(report, invoice)
    elif payment.amount_refunded and not _refund_heard_of(reference, payment.amount_refunded):
        report.needs_review.append(
            f"{invoice.number}: Stripe has refunded "
            f"{stripe_gateway.stripe_amount_text(payment.amount_refunded, payment.currency)} "
            f"of {stripe_gateway.stripe_amount_text(payment.amount, payment.currency)} of "
            f"{reference}, and no charge.refunded webhook told of it; only whole refunds are "
            "applied here."
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
        charge = event_object(json.loads(payload)) or {}
    except (RecursionError, ValueError):
        return 0
    amount = charge.get("amount_refunded")
    return amount if isinstance(amount, int) else 0


def _refund_apply(report: ReconcileReport, invoice: Invoice) -> None:
    """The same refund as the lost webhook's: its later delivery is `already_processed`."""
    if not report.dry_run:
        with transaction.atomic():
            handled = stripe_payment_refund(invoice.payment_reference, invoice_id=invoice.pk)
        if handled.outcome != PaymentEvent.Outcome.PROCESSED:
            if handled.outcome == PaymentEvent.Outcome.NEEDS_REVIEW:
                report.needs_review.append(f"{invoice.number}: {handled.error}")
            return
    report.invoices_refunded += 1
