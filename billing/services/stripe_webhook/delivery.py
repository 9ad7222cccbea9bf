"""Receiving one delivery: verify it, claim the event's row (once per event id), act on it
and record the outcome, all in one transaction; a failure is recorded in its own. An event
whose delivery never came, which reconciliation fetched from Stripe, takes the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from django.db import transaction

from billing import stripe_gateway
from billing.models import PaymentEvent
from billing.services.events import DONE, SETTLED, event_claim, event_record
from billing.services.stripe_webhook.handlers import stripe_event_handle
from billing.services.stripe_webhook.outcomes import (
    PROVIDER,
    Handled,
    Outcome,
    event_outcome_record,
)
from billing.services.stripe_webhook.payments import (
    PAID_EVENTS,
    SESSION_PAYMENT_FOUND,
    payment_lock,
    session_reference,
    stripe_payment_lock,
)
from common import metrics
from common.db import once_more_if_rolled_back_for_another
from common.errors import Invalid


def stripe_webhook_process(
    *, raw_body: bytes, signature_header: str | None, forgery_recordable: Callable[[], bool]
) -> str:
    """Verifies and handles one delivery; returns the event's outcome.

    Raises InvalidStripeSignature (recorded while `forgery_recordable()` says so, its
    sender's limit), and Invalid for a signed body nested too deeply to parse or holding a
    NUL or a lone surrogate (recorded); nothing else changes. A delivery whose handling fails
    unexpectedly is recorded as `failed` in its own transaction and re-raised (500), so
    Stripe retries it; nothing of its effect persists.
    """
    text = raw_body.decode("utf-8", errors="replace")
    try:
        event = stripe_gateway.webhook_event_verify(
            payload=raw_body, signature_header=signature_header
        )
    except stripe_gateway.InvalidStripeSignature as refusal:
        if forgery_recordable():
            event_record(
                provider=PROVIDER, payload=text, signature_valid=False, error=refusal.message
            )
        metrics.webhook_refused(provider=PROVIDER, reason=refusal.code)
        raise
    except Invalid as refusal:
        event_record(provider=PROVIDER, payload=text, signature_valid=True, error=refusal.message)
        metrics.webhook_refused(provider=PROVIDER, reason=refusal.code)
        raise
    event_id = str(event.get("id") or "") if isinstance(event, dict) else ""
    event_type = str(event.get("type") or "") if isinstance(event, dict) else ""
    try:
        # A refund or capture rolled back to end a deadlock is run once more (invoice_refund).
        return once_more_if_rolled_back_for_another(
            partial(_process, event, event_id, event_type, text)
        )
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


def stripe_event_recover(event: dict) -> Handled | None:
    """Handles an event Stripe lists whose delivery never came (reconciliation asks Stripe
    for them; a lost webhook is otherwise never noticed) exactly as its delivery would have,
    in one transaction: the payment's lock, then the event's row claimed, then the handling
    and its outcome. The row counts no delivery (0); the late delivery, if one comes, is
    `already_processed`, and a delivery under way when this runs is waited for and this
    does nothing. An event recorded already (delivered, or recovered before) is left as it
    is and None returned, except one whose every delivery failed (`failed`), which is
    handled again as a redelivery would. The event was fetched from Stripe with our key, so
    it is as authentic as a verified delivery (`signature_valid`)."""
    event_id = str(event.get("id") or "")
    if not event_id:
        return None
    fields = {
        "event_type": str(event.get("type") or "")[:100],
        "payload": json.dumps(event),
        "signature_valid": True,
    }
    with transaction.atomic():
        stripe_payment_lock(event)
        recorded = PaymentEvent.objects.filter(provider=PROVIDER, event_id=event_id)
        if recorded.exclude(outcome=Outcome.FAILED).exists():
            return None
        record = event_claim(provider=PROVIDER, event_id=event_id, fields=fields, delivered=False)
        if record.outcome not in (Outcome.RECEIVED, Outcome.FAILED):
            return None  # delivered meanwhile, outside any payment's lock
        handled = stripe_event_handle(event)
        event_outcome_record(record, handled)
    return handled


def stripe_session_payment_recover(session: dict) -> Handled | None:
    """Records a payment Stripe took through the session of an invoice that no longer waited
    for it (cancelled, or paid through another provider), which reconciliation found by
    asking Stripe about that session: handled as its `checkout.session.completed` would have
    been, so it is flagged `needs_review` for a person to return (the capture refuses it;
    nothing is credited) and counted until they settle it. Under the payment's lock; None
    when an event of that payment is recorded already (its webhook came), so it is flagged
    once. The record's event id is the session's (SESSION_PAYMENT_FOUND), so a run again
    flags it no more; a webhook of it that comes later is recorded as that payment's, already
    flagged (stripe_event_handle), not as a second one to review."""
    reference = session_reference(session)
    event = {
        "id": f"{SESSION_PAYMENT_FOUND}{session.get('id')}",
        "type": "checkout.session.completed",
        "data": {"object": session},
    }
    with transaction.atomic():
        payment_lock(reference)
        heard = PaymentEvent.objects.filter(
            provider=PROVIDER, payment_reference=reference, event_type__in=PAID_EVENTS
        ).exclude(outcome=Outcome.FAILED)
        if heard.exists():
            return None
        return stripe_event_recover(event)
