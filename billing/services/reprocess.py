"""Staff re-processing of a stored payment event, through the same code as its delivery."""

from __future__ import annotations

import json
from uuid import UUID

from django.db import transaction

from billing.models import Invoice, PaymentEvent
from billing.services.events import DONE
from billing.services.payment_webhook import payment_event_capture, payment_notice_parse
from billing.services.stripe_webhook import (
    event_outcome_record,
    stripe_event_handle,
    stripe_payment_lock,
)
from common.errors import Invalid, InvalidState


def payment_event_reprocess(*, event_id: UUID) -> str:
    """Acts again on an event that failed, was held or needs review; returns its new outcome.

    Only events whose signature was valid (they are the provider's words, verified once).
    Raises InvalidState for an unverified or already processed event.
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
            stripe_payment_lock(json.loads(payload))
        event = PaymentEvent.objects.select_for_update().get(pk=event_id)
        if not event.signature_valid:
            raise InvalidState("An event whose signature was not valid is never acted on.")
        if event.outcome in DONE:
            raise InvalidState("This event has already been processed.")
        if event.provider == Invoice.Provider.STRIPE:
            event_outcome_record(event, stripe_event_handle(json.loads(event.payload)))
        else:
            try:
                notice = payment_notice_parse(event.payload.encode())
            except Invalid as refusal:
                raise InvalidState(f"The stored payload is not valid: {refusal}") from refusal
            payment_event_capture(event, notice)
        return event.outcome
