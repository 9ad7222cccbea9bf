"""Stripe's webhook: verified by the SDK, stored once per event id, acted on with the event row
in the same transaction.

Stripe delivers at least once, in any order. So a refund that arrives before its capture is
held (outcome `held`) and applied when the capture comes; an expired session changes nothing;
whatever the order of completed, expired and refunded, an invoice ends in the same state.
Anything that cannot be acted on safely is recorded as `needs_review`, credited nothing and
answered 200, so Stripe does not retry it forever.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from uuid import UUID

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, PaymentEvent
from billing.services.capture import invoice_capture
from billing.services.events import DONE, event_claim, event_record
from billing.services.refunds import InvoiceAlreadyRefunded, invoice_refund
from common import metrics
from common.db import require_transaction
from common.errors import InvalidState

Outcome = PaymentEvent.Outcome
PROVIDER = Invoice.Provider.STRIPE
PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
SETTLED = (*DONE, Outcome.NEEDS_REVIEW, Outcome.IGNORED)


@dataclass(frozen=True)
class Handled:
    outcome: str
    error: str = ""
    invoice_id: UUID | None = None
    payment_reference: str = ""


def stripe_webhook_process(*, raw_body: bytes, signature_header: str | None) -> str:
    """Verifies and handles one delivery; returns the event's outcome.

    Raises InvalidStripeSignature (recorded, nothing else changes). A delivery whose handling
    fails unexpectedly is recorded as `failed` in its own transaction and re-raised (500), so
    Stripe retries it; nothing of its effect persists.
    """
    text = raw_body.decode("utf-8", errors="replace")
    try:
        event = stripe_gateway.webhook_event_verify(
            payload=raw_body, signature_header=signature_header
        )
    except stripe_gateway.InvalidStripeSignature as refusal:
        event_record(provider=PROVIDER, payload=text, signature_valid=False, error=refusal.message)
        metrics.webhook_refused(provider=PROVIDER, reason=refusal.code)
        raise
    event_id = str(event.get("id") or "") if isinstance(event, dict) else ""
    event_type = str(event.get("type") or "") if isinstance(event, dict) else ""
    try:
        return _process(event, event_id, event_type, text)
    except Exception as error:
        event_record(
            provider=PROVIDER,
            payload=text,
            signature_valid=True,
            event_id=event_id,
            event_type=event_type,
            outcome=Outcome.FAILED,
            error=f"{type(error).__name__}: {error}",
        )
        raise


def _process(event: object, event_id: str, event_type: str, text: str) -> str:
    fields = {"event_type": event_type[:100], "payload": text, "signature_valid": True}
    with transaction.atomic():
        stripe_payment_lock(event)
        record = event_claim(provider=PROVIDER, event_id=event_id, fields=fields)
        if record.outcome in SETTLED:
            record.save(update_fields=["deliveries"])
            return Outcome.ALREADY_PROCESSED if record.outcome in DONE else record.outcome
        handled = stripe_event_handle(event)
        event_outcome_record(record, handled)
    return handled.outcome


def stripe_event_handle(event: object) -> Handled:
    """Acts on a verified event, inside the caller's transaction (also used to re-process a
    stored event and, by reconciliation, to apply held refunds)."""
    require_transaction("stripe_event_handle")
    data = event.get("data") if isinstance(event, dict) else None
    found = data.get("object") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return Handled(Outcome.NEEDS_REVIEW, "The event carries no object.")
    kind = event.get("type")
    if kind in PAID_EVENTS:
        return stripe_session_capture(found)
    if kind == "checkout.session.expired":
        return Handled(
            Outcome.PROCESSED, "Session expired; the invoice stays as it is.", _invoice_id(found)
        )
    if kind == "charge.refunded":
        return _charge_refunded(found)
    return Handled(Outcome.IGNORED, f"Events of type {kind!r} are not acted on.")


def stripe_payment_lock(event: object) -> None:
    """Handles the events of one payment one at a time, inside the caller's transaction and
    before it locks any row. Without it a refund read before its capture had committed was
    held, and the capture, which cannot see a hold not yet committed, never applied it: the
    invoice stayed paid. (SQLite runs one writing transaction at a time anyway.)"""
    data = event.get("data") if isinstance(event, dict) else None
    found = data.get("object") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return
    kind = event.get("type")
    if kind in PAID_EVENTS:
        _payment_lock(_session_reference(found))
    elif kind == "charge.refunded":
        _payment_lock(_charge_reference(found))


def _payment_lock(reference: str) -> None:
    """A transaction-scoped lock on the payment (PgBouncer's transaction pooling keeps it);
    taking it again in the same transaction is free."""
    if not reference or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"stripe-payment:{reference}"],
        )


def _session_reference(session: dict) -> str:
    return str(session.get("payment_intent") or session.get("id") or "")


def _charge_reference(charge: dict) -> str:
    return str(charge.get("payment_intent") or "")


def event_outcome_record(record: PaymentEvent, handled: Handled) -> None:
    """Records what handling an event came to, on its (locked) row."""
    require_transaction("event_outcome_record")
    record.outcome = handled.outcome
    record.error = handled.error
    record.payment_reference = handled.payment_reference[:255]
    if handled.invoice_id and Invoice.objects.filter(pk=handled.invoice_id).exists():
        record.invoice_id = handled.invoice_id
    record.processed_at = timezone.now()
    record.save()


def _one(invoices: QuerySet[Invoice]) -> Invoice | None:
    """The invoice a unique key names, or None."""
    return invoices.order_by("pk").first()


def _invoice_id(found: dict) -> UUID | None:
    metadata = found.get("metadata") if isinstance(found.get("metadata"), dict) else {}
    for candidate in (found.get("client_reference_id"), metadata.get("invoice_id")):
        try:
            return uuid.UUID(str(candidate))
        except ValueError:
            continue
    return None


def stripe_session_capture(session: dict) -> Handled:
    """Captures the invoice a paid session names, after checking Stripe's amount and currency
    against it (webhook, re-processing, reconciliation). Inside the caller's transaction."""
    require_transaction("stripe_session_capture")
    if session.get("payment_status") != "paid":
        return Handled(Outcome.IGNORED, f"Not paid yet ({session.get('payment_status')}).")
    invoice_id = _invoice_id(session)
    invoice = _one(Invoice.objects.select_related("currency").filter(pk=invoice_id))
    if invoice is None:
        return Handled(
            Outcome.NEEDS_REVIEW, f"No invoice {invoice_id} for session {session.get('id')}."
        )
    reference = _session_reference(session)
    amount, currency = session.get("amount_total"), str(session.get("currency") or "").upper()
    if (amount, currency) != (invoice.total_in_minor_units(), invoice.currency.code):
        return Handled(
            Outcome.NEEDS_REVIEW,
            f"Stripe says {amount} {currency}; invoice {invoice.number} is "
            f"{invoice.total_in_minor_units()} {invoice.currency.code}. Nothing was credited.",
            invoice.pk,
            reference,
        )
    _payment_lock(reference)
    try:
        with transaction.atomic():
            captured = invoice_capture(
                invoice_id=invoice.pk,
                payment_reference=reference,
                provider=PROVIDER,
                amount=invoice.total,
                currency=invoice.currency.code,
            )
    except InvalidState as refusal:
        return Handled(
            Outcome.NEEDS_REVIEW,
            f"Paid at Stripe, but {refusal.message} Refund it or settle it by hand.",
            invoice.pk,
            reference,
        )
    _apply_held_refunds(reference)
    outcome = Outcome.PROCESSED if captured.status == "success" else Outcome.ALREADY_PROCESSED
    return Handled(outcome, "", invoice.pk, reference)


def _charge_refunded(charge: dict) -> Handled:
    reference = _charge_reference(charge)
    if not reference:
        return Handled(Outcome.NEEDS_REVIEW, "The refunded charge names no payment intent.")
    if not charge.get("refunded"):
        return Handled(
            Outcome.NEEDS_REVIEW,
            f"Partly refunded ({charge.get('amount_refunded')} of {charge.get('amount')}); "
            "only whole refunds are applied here.",
            payment_reference=reference,
        )
    _payment_lock(reference)
    invoice = _one(Invoice.objects.filter(provider=PROVIDER, payment_reference=reference))
    if invoice is None:
        return Handled(
            Outcome.HELD,
            "No capture for this payment yet; the refund is applied when it arrives.",
            _invoice_id(charge),
            reference,
        )
    try:
        invoice_refund(invoice_id=invoice.pk)
    except InvoiceAlreadyRefunded:
        return Handled(Outcome.ALREADY_PROCESSED, "", invoice.pk, reference)
    except InvalidState as refusal:
        return Handled(Outcome.NEEDS_REVIEW, refusal.message, invoice.pk, reference)
    return Handled(Outcome.PROCESSED, "", invoice.pk, reference)


def _apply_held_refunds(reference: str) -> None:
    held = PaymentEvent.objects.select_for_update().filter(
        provider=PROVIDER, outcome=Outcome.HELD, payment_reference=reference
    )
    for record in held.order_by("received_at"):
        event_outcome_record(record, stripe_event_handle(json.loads(record.payload)))


def held_refunds_apply() -> int:
    """Applies held refunds whose capture has arrived since (reconciliation); returns how many."""
    references = PaymentEvent.objects.filter(provider=PROVIDER, outcome=Outcome.HELD).values_list(
        "payment_reference", flat=True
    )
    captured = Invoice.objects.filter(
        provider=PROVIDER, payment_reference__in=list(references)
    ).values_list("payment_reference", flat=True)
    applied = 0
    for reference in captured:
        with transaction.atomic():
            _payment_lock(reference)
            _apply_held_refunds(reference)
        applied += 1
    return applied
