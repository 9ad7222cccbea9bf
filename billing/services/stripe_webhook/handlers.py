"""Acting on a verified Stripe event, per type, inside the caller's transaction: a paid
session captures its invoice (and applies the refunds held for it), an expired session or a
failed bank debit lets it be paid again with a new one, a whole refund refunds it, a
dispute, a dispute lost, a refund the bank refused and an event of the other mode (test or
live) are flagged for a person."""

from __future__ import annotations

import json
import uuid
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, PaymentEvent
from billing.services.capture import invoice_capture
from billing.services.refunds import InvoiceAlreadyRefunded, invoice_refund
from billing.services.stripe_webhook.disputes import dispute_closed, dispute_created
from billing.services.stripe_webhook.outcomes import (
    PROVIDER,
    Handled,
    Outcome,
    amount_text,
    event_outcome_record,
)
from billing.services.stripe_webhook.payments import (
    DISPUTE_CLOSED_EVENT,
    DISPUTE_EVENT,
    PAID_EVENTS,
    REFUND_UPDATE_EVENTS,
    SESSION_PAYMENT_FOUND,
    charge_reference,
    event_object,
    payment_lock,
    session_reference,
)
from billing.services.stripe_webhook.staff_refunds import refusals, staff_refund_told
from common.db import require_transaction
from common.errors import InvalidState


def stripe_event_handle(event: object) -> Handled:
    """Acts on a verified event, inside the caller's transaction (also used to re-process a
    stored event and, by reconciliation, to apply held refunds)."""
    require_transaction("stripe_event_handle")
    found = event_object(event)
    if found is None:
        return Handled(Outcome.NEEDS_REVIEW, "The event carries no object.")
    mismatch = _other_mode(event)
    if mismatch:
        return Handled(Outcome.NEEDS_REVIEW, mismatch, _invoice_id(found))
    kind = event.get("type")
    if kind in PAID_EVENTS:
        return _found_by_reconciliation(event, found) or stripe_session_capture(found)
    if kind == "checkout.session.async_payment_failed":
        return _session_ended(
            found, "The payment failed; the invoice stays pending and can be paid again."
        )
    if kind == "checkout.session.expired":
        return _session_ended(
            found, "Session expired; the invoice stays pending and can be paid again."
        )
    if kind == "charge.refunded":
        return _charge_refunded(event, found)
    if kind == DISPUTE_EVENT:
        return dispute_created(found)
    if kind == DISPUTE_CLOSED_EVENT:
        return dispute_closed(found)
    if kind in REFUND_UPDATE_EVENTS and found.get("status") == "failed":
        return _refund_failed(event, found)
    return Handled(Outcome.IGNORED, f"Events of type {kind!r} are not acted on.")


def _found_by_reconciliation(event: dict, session: dict) -> Handled | None:
    """The paid event of a session whose payment reconciliation flagged already, its webhook
    having been late (stripe_session_payment_recover): the same payment, so it is recorded as
    that record's, not as a second one for a person to review and settle. None for any other
    event, and for that record itself (staff re-processing it flag it again). Under the
    payment's lock, which reconciliation's record was made under too."""
    found_id = f"{SESSION_PAYMENT_FOUND}{session.get('id')}"
    if event.get("id") == found_id:
        return None
    flagged = (
        PaymentEvent.objects.filter(provider=PROVIDER, event_id=found_id)
        .exclude(outcome=Outcome.FAILED)
        .values_list("invoice_id", "payment_reference")
        .first()
    )
    if flagged is None:
        return None
    invoice_id, reference = flagged
    return Handled(
        Outcome.ALREADY_PROCESSED,
        f"reconcile_purchases flagged this payment for review ({found_id}); settle it there.",
        invoice_id,
        reference,
    )


def _other_mode(event: dict) -> str:
    """Why an event of the other mode (test or live) than STRIPE_SECRET_KEY's is not acted
    on, or "". Its money is not the money this service takes (a test card pays nothing),
    yet a test-mode session made before the keys were switched names a real invoice; it
    verifies only when STRIPE_WEBHOOK_SECRET is the other mode's endpoint's secret."""
    live, ours = event.get("livemode"), stripe_gateway.key_livemode()
    if not isinstance(live, bool) or ours is None or live == ours:
        return ""
    mode = {True: "live", False: "test"}
    return (
        f"A {mode[live]}-mode event, while STRIPE_SECRET_KEY is a {mode[ours]}-mode key: "
        f"nothing was done. STRIPE_WEBHOOK_SECRET must be the signing secret of the "
        f"{mode[ours]}-mode endpoint."
    )


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
    reference = session_reference(session)
    if len(reference) > Invoice._meta.get_field("payment_reference").max_length:
        return Handled(
            Outcome.NEEDS_REVIEW,
            f"Paid at Stripe, but its payment reference is too long to record "
            f"({len(reference)} characters). Nothing was credited; settle it by hand.",
            invoice.pk,
            reference,
        )
    amount, currency = session.get("amount_total"), str(session.get("currency") or "").upper()
    if (amount, currency) != (invoice.total_in_minor_units(), invoice.currency.code):
        ours = {"amount": invoice.total_in_minor_units(), "currency": invoice.currency.code}
        return Handled(
            Outcome.NEEDS_REVIEW,
            f"Stripe says {amount_text(session, 'amount_total')}; invoice {invoice.number} is "
            f"{amount_text(ours)}. Nothing was credited.",
            invoice.pk,
            reference,
        )
    payment_lock(reference)
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


def _session_ended(session: dict, note: str) -> Handled:
    """A session that can take no payment any more: expired (perhaps before its time, in
    Stripe's dashboard), or complete with a bank debit that failed. The invoice stays
    pending, and the session is no longer handed out, so paying again makes a new one. One
    conditional UPDATE: only while the invoice is pending with that session."""
    invoice_id = _invoice_id(session)
    Invoice.objects.filter(
        pk=invoice_id, status=Invoice.Status.PENDING, stripe_session_id=str(session.get("id"))
    ).update(stripe_session_expires_at=timezone.now(), updated_at=timezone.now())
    return Handled(Outcome.PROCESSED, note, invoice_id)


def _charge_refunded(event: dict, charge: dict) -> Handled:
    reference = charge_reference(charge)
    if not reference:
        return Handled(Outcome.NEEDS_REVIEW, "The refunded charge names no payment intent.")
    if not charge.get("refunded"):
        return _partly_refunded(charge, reference)
    return stripe_payment_refund(reference, invoice_id=_invoice_id(charge), news=event)


def _partly_refunded(charge: dict, reference: str) -> Handled:
    """Part of a payment refunded at Stripe (its dashboard): nothing changes here, and a
    person is told, naming and linking the invoice it paid, as a dispute's event does. The
    event named no invoice, and staff had to find which one kept its tokens."""
    invoice = _one(Invoice.objects.filter(provider=PROVIDER, payment_reference=reference))
    paid = (
        f"invoice {invoice.number}, which it paid, is {invoice.status} and its tokens are as "
        "they were: refund the invoice to return the rest and take its tokens back, or settle "
        "it by hand"
        if invoice
        else "it paid no invoice here (yet)"
    )
    return Handled(
        Outcome.NEEDS_REVIEW,
        f"Partly refunded ({amount_text(charge, 'amount_refunded')} of {amount_text(charge)}) "
        f"at Stripe; only whole refunds are applied here, and {paid}.",
        invoice.pk if invoice else None,
        reference,
    )


def _refund_failed(event: dict, refund: dict) -> Handled:
    """The bank refused a refund Stripe had made (a closed card): the money is back with us,
    while the invoice may have been refunded here and its tokens taken back, so the
    customer has neither. Undoing a refund is not done here; a person is told, once: Stripe
    tells of one refusal by two types of event (`charge.refund.updated`, `refund.failed`)."""
    reference = charge_reference(refund)
    invoice = (
        _one(Invoice.objects.filter(provider=PROVIDER, payment_reference=reference))
        if reference
        else None
    )
    refund_id = str(refund.get("id") or "")
    told = refusals(reference, refund_id, flagged_only=True, other_than=str(event.get("id") or ""))
    if reference and refund_id and next(told, None) is not None:
        note = f"The bank's refusal of {refund_id}, flagged for review already."
        return Handled(Outcome.ALREADY_PROCESSED, note, invoice.pk if invoice else None, reference)
    paid = (
        f"invoice {invoice.number}, which it paid, is {invoice.status}"
        if invoice
        else "it paid no invoice here"
    )
    return Handled(
        Outcome.NEEDS_REVIEW,
        f"Stripe could not refund {amount_text(refund)} of {reference or refund.get('charge')} "
        f"({refund.get('failure_reason')}): the money is back with us, and {paid}. Return "
        "the money another way, or settle the invoice by hand.",
        invoice.pk if invoice else None,
        reference,
    )


def stripe_payment_refund(
    reference: str, *, invoice_id: UUID | None = None, news: dict | None = None
) -> Handled:
    """Applies a whole refund Stripe made of a payment: its `charge.refunded` webhook
    (`news`), or reconciliation when that webhook was lost. Inside the caller's transaction.
    An invoice refunded already is `already_processed`; so is a payment that paid nothing
    here which staff refunded at Stripe (payment_event_refund_at_stripe, recorded under this
    lock) when `news` is that refund's (staff_refund_told): linked to that refund. A payment
    not captured yet is `held` (`invoice_id` is the invoice it names, if any)."""
    require_transaction("stripe_payment_refund")
    payment_lock(reference)
    invoice = _one(Invoice.objects.filter(provider=PROVIDER, payment_reference=reference))
    if invoice is None:
        staff_refund = staff_refund_told(reference, news or {})
        if staff_refund:
            note = f"The refund staff made at Stripe ({staff_refund}) from the payment events."
            return Handled(Outcome.ALREADY_PROCESSED, note, invoice_id, reference, staff_refund)
        return Handled(
            Outcome.HELD,
            "No capture for this payment yet; the refund is applied when it arrives.",
            invoice_id,
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


def held_refunds_captured() -> QuerySet[Invoice]:
    """Invoices captured since a refund of their payment was held: reconciliation applies
    each one's with `held_refund_apply`."""
    references = PaymentEvent.objects.filter(provider=PROVIDER, outcome=Outcome.HELD).values_list(
        "payment_reference", flat=True
    )
    return Invoice.objects.filter(provider=PROVIDER, payment_reference__in=list(references))


def held_refund_apply(reference: str) -> None:
    """Applies the refunds held for one captured payment (or one staff refunded at Stripe,
    whose news they are), in a transaction of its own, so a payment that cannot be locked
    now holds up no other's."""
    with transaction.atomic():
        payment_lock(reference)
        _apply_held_refunds(reference)
