"""What staff do with a stored payment event: re-process it, through the same code as its
delivery, record that a person settled one needing review, or return through Stripe a
payment flagged for review that paid nothing here."""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, PaymentEvent
from billing.models.events import HANDLED_NOTE_MAX
from billing.services.events import DONE, storable
from billing.services.payment_webhook import payment_event_capture, payment_notice_parse
from billing.services.stripe_webhook import (
    event_outcome_record,
    held_refund_apply,
    stripe_event_handle,
    stripe_payment_lock,
)
from billing.services.stripe_webhook.payments import REFUND_UPDATE_EVENTS
from billing.services.stripe_webhook.payments import payment_lock as stripe_payment_lock_of
from common.audit import staff_action_record
from common.errors import Invalid, InvalidState, NotFound


def payment_event_reprocess(*, event_id: UUID, actor_id: UUID | None = None) -> str:
    """Acts again on an event that failed, was held or needs review; returns its new outcome.

    Only events whose signature was valid (they are the provider's words, verified once).
    `actor_id`, the staff member, is recorded with the new outcome (common.audit). Raises
    InvalidState for an unverified or already processed event.
    """
    with transaction.atomic():
        # A Stripe event's payment is locked before its row, as its delivery locks them.
        payload = (
            PaymentEvent.objects.filter(
                pk=event_id, provider=Invoice.Provider.STRIPE, signature_valid=True
            )
            .values_list("payload", flat=True)
            .first()
        )
        if payload is not None:
            stripe_payment_lock(_stored_stripe_event(payload))
        event = PaymentEvent.objects.select_for_update().get(pk=event_id)
        if not event.signature_valid:
            raise InvalidState("An event whose signature was not valid is never acted on.")
        if event.outcome in DONE:
            raise InvalidState("This event has already been processed.")
        # Acting again gives the event a new outcome: a settlement recorded for the old one
        # no longer stands (a new `needs_review` is counted again).
        event.handled_at, event.handled_by_id, event.handled_note = None, None, ""
        if event.provider == Invoice.Provider.STRIPE:
            event_outcome_record(event, stripe_event_handle(_stored_stripe_event(event.payload)))
        else:
            try:
                notice = payment_notice_parse(event.payload.encode())
            except Invalid as refusal:
                raise InvalidState(
                    f"The stored payload is not valid: {_refused_fields(refusal)}"
                ) from refusal
            payment_event_capture(event, notice)
        staff_action_record(
            actor_id=actor_id, instances=[event], message=f"Re-processed: {event.outcome}."
        )
        return event.outcome


def _refused_fields(refusal: Invalid) -> str:
    """Every field the stored body has wrong, each named (as its delivery recorded them), so
    staff fix them all at once; one alone reads as it always has, its message only."""
    if len(refusal.fields) == 1:
        return str(refusal)
    return "; ".join(f"{field}: {' '.join(said)}" for field, said in refusal.fields.items())


def _stored_stripe_event(payload: str) -> dict:
    """The stored body of a verified Stripe event, parsed as its delivery parsed it: a body
    refused then is stored with its signature valid, and parsing it again failed (500)."""
    try:
        return stripe_gateway.webhook_event_parse(payload)
    except (Invalid, ValueError) as refusal:
        message = refusal.message if isinstance(refusal, Invalid) else str(refusal)
        raise InvalidState(f"The stored payload is not valid: {message}") from refusal


def payment_event_mark_handled(*, event_id: UUID, staff_id: UUID, note: str) -> PaymentEvent:
    """Records that a person settled an event needing review (refunded by hand, confirmed
    with the provider, ...), when, and what they did: reconciliation counts and lists only
    the events nobody has settled, so a count that grows is new trouble. One conditional
    UPDATE, so two staff settling the same event at once record it once. The History keeps
    it too (common.audit): re-processing the event clears `handled_by`.

    Raises Invalid for an empty or too long note, NotFound for no such event, InvalidState
    for an event not needing review or settled already.
    """
    note = storable(note.strip())
    if not note:
        raise Invalid("note", "Say what was done about it.")
    if len(note) > HANDLED_NOTE_MAX:
        raise Invalid("note", f"Keep the note to {HANDLED_NOTE_MAX} characters.")
    with transaction.atomic():
        settled = PaymentEvent.objects.filter(
            pk=event_id, outcome=PaymentEvent.Outcome.NEEDS_REVIEW, handled_at__isnull=True
        ).update(handled_at=timezone.now(), handled_by_id=staff_id, handled_note=note)
        if settled:
            event = PaymentEvent.objects.get(pk=event_id)
            staff_action_record(
                actor_id=staff_id, instances=[event], message=f"Marked handled: {note}"
            )
            return event
    event = PaymentEvent.objects.filter(pk=event_id).first()
    if event is None:
        raise NotFound("No such payment event.")
    if event.handled_at is not None:
        raise InvalidState("This event was settled already.")
    raise InvalidState("Only an event needing review is settled by a person.")


def payment_event_refund_at_stripe(*, event_id: UUID, staff_id: UUID) -> str:
    """Returns to the customer, through Stripe, the payment of a Stripe event flagged for
    review that paid no invoice here: a second payment, through a Stripe tab left open, for
    an invoice paid otherwise or cancelled, or one for another amount (nothing was credited
    for it), or one whose refund made here the bank refused (from that refusal's event).
    Stripe first, outside any transaction (the payment's idempotency key, new after each
    refusal, makes repeated or concurrent refunds one); then this event, and any other
    unsettled one of the same payment (its webhook come late), is settled with what Stripe
    did. Returns that note.

    Raises NotFound; InvalidState for an event that is not a verified Stripe event needing
    review, is settled already, names no payment, whose payment paid an invoice here (refund
    that invoice: its tokens are taken back too) or is disputed (the bank has the money);
    PaymentProviderError when Stripe cannot be asked or refuses. Nothing is recorded then.
    """
    event = PaymentEvent.objects.filter(pk=event_id).first()
    if event is None:
        raise NotFound("No such payment event.")
    stripe_review = (event.provider, event.outcome) == (
        Invoice.Provider.STRIPE,
        PaymentEvent.Outcome.NEEDS_REVIEW,
    )
    if not (stripe_review and event.signature_valid) or event.handled_at is not None:
        raise InvalidState("Only a Stripe payment event needing review, not settled, is refunded.")
    reference = event.payment_reference
    if not reference:
        raise InvalidState("This event names no payment to refund.")
    paid = Invoice.objects.filter(provider=Invoice.Provider.STRIPE, payment_reference=reference)
    number = paid.values_list("number", flat=True).first()
    if number is not None:
        raise InvalidState(
            f"This payment paid invoice {number}: refund the invoice, which also takes back "
            "what it bought."
        )
    refund = ""
    try:
        refund = stripe_gateway.refund_create(
            payment_intent=reference, idempotency_key=_refund_key(reference)
        )
        note = f"Refunded at Stripe ({refund}) by staff."
    except stripe_gateway.PaymentAlreadyRefunded:
        note = "Stripe had refunded it already."
    except stripe_gateway.PaymentDisputed as error:
        raise InvalidState(
            "The payment is disputed: the customer's bank has the money; Stripe refunds nothing."
        ) from error
    _refund_at_stripe_record(event_id=event_id, reference=reference, refund=refund)
    _settle(reference=reference, staff_id=staff_id, note=note)
    return note


def _refund_key(reference: str) -> str:
    """The payment's idempotency key for a refund, new after each refusal by the bank
    flagged for it: a retry (after a failure, from any of its events) is the same refund,
    while refunding again after a refusal is not answered with the refused refund (Stripe
    replays a key's first answer for 24 hours)."""
    refused = PaymentEvent.objects.filter(
        provider=Invoice.Provider.STRIPE,
        payment_reference=reference,
        event_type__in=REFUND_UPDATE_EVENTS,
        outcome=PaymentEvent.Outcome.NEEDS_REVIEW,
    ).count()
    key = f"refund-payment:{reference}"
    return f"{key}:after-{refused}-refused" if refused else key


def _refund_at_stripe_record(*, event_id: UUID, reference: str, refund: str) -> None:
    """Records the refund staff made (none when Stripe had refunded it already: that was
    someone else's, whose news stays held) on the event they refunded from, under the
    payment's lock, so Stripe's charge.refunded of it is recorded as this refund, not held
    for a capture that never comes (stripe_payment_refund). News of it that came while
    Stripe was being asked, before this record, was held: it is handled again here."""
    if not refund:
        return
    with transaction.atomic():
        stripe_payment_lock_of(reference)
        PaymentEvent.objects.filter(pk=event_id).update(stripe_refund_id=refund)
        held_refund_apply(reference)


def _settle(*, reference: str, staff_id: UUID, note: str) -> None:
    unsettled = PaymentEvent.objects.filter(
        provider=Invoice.Provider.STRIPE,
        payment_reference=reference,
        outcome=PaymentEvent.Outcome.NEEDS_REVIEW,
        handled_at__isnull=True,
    ).values_list("pk", flat=True)
    for pk in unsettled.order_by("pk"):
        try:
            payment_event_mark_handled(event_id=pk, staff_id=staff_id, note=note)
        except InvalidState:
            continue  # settled by another staff member meanwhile
