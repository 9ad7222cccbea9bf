"""Payment events: one row per provider event (or per delivery without an id)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billing.models import PaymentEvent
from common.db import require_transaction

Outcome = PaymentEvent.Outcome
DONE = (Outcome.PROCESSED, Outcome.ALREADY_PROCESSED)
# What a delivery may end in that its redeliveries leave as it is.
SETTLED = (*DONE, Outcome.NEEDS_REVIEW, Outcome.IGNORED)
UNVERIFIED_PAYLOAD_LIMIT = 10_000


def storable(text: str) -> str:
    """Text as PostgreSQL can store it: a NUL (which a body may carry) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


def event_claim(
    *, provider: str, event_id: str, fields: dict, delivered: bool = True
) -> PaymentEvent:
    """The event's row, inside the caller's transaction: new, or the first delivery's, locked
    and with this delivery counted. Concurrent deliveries of one event wait here for each other
    (the unique index, then the row lock), so only the first acts. An event reconciliation
    fetched from the provider (`delivered=False`) counts no delivery: a new row says 0."""
    require_transaction("event_claim")
    event_id = storable(event_id)
    fields = {
        name: storable(value) if isinstance(value, str) else value for name, value in fields.items()
    }
    if not delivered:
        fields["deliveries"] = 0
    if not event_id:
        return PaymentEvent.objects.create(provider=provider, **fields)
    event, created = PaymentEvent.objects.get_or_create(
        provider=provider, event_id=event_id, defaults=fields
    )
    if created:
        return event
    event = PaymentEvent.objects.select_for_update().get(pk=event.pk)
    event.deliveries += 1 if delivered else 0
    return event


def event_record(
    *,
    provider: str,
    payload: str,
    signature_valid: bool,
    error: str,
    event_id: str = "",
    event_type: str = "",
    outcome: str = Outcome.REJECTED,
) -> PaymentEvent:
    """Records a delivery that was refused or failed, in its own transaction, so the record
    survives whatever was rolled back.

    A refused signature never takes the event id it claims, so a forged delivery cannot squat
    on a real event's id, and keeps only the start of its body (anyone can send one, so
    storing each whole would let them fill the table). A failed one keeps its id, so the
    provider's retry finds it.
    """
    if not signature_valid and len(payload) > UNVERIFIED_PAYLOAD_LIMIT:
        payload = payload[:UNVERIFIED_PAYLOAD_LIMIT] + f"... [{len(payload)} characters in all]"
    event_id, payload = storable(event_id), storable(payload)
    fields = {
        "event_type": storable(event_type),
        "payload": payload,
        "signature_valid": signature_valid,
        "outcome": outcome,
        "error": storable(error[:5000]),
        "processed_at": timezone.now(),
    }
    with transaction.atomic():
        if event_id and signature_valid:
            event, created = PaymentEvent.objects.get_or_create(
                provider=provider, event_id=event_id, defaults=fields
            )
            if not created:
                # A redelivery that failed (gave up on a lock, say) does not undo what an
                # earlier delivery settled: that outcome stands.
                PaymentEvent.objects.filter(pk=event.pk).exclude(outcome__in=SETTLED).update(
                    outcome=outcome, error=fields["error"], processed_at=fields["processed_at"]
                )
            return event
        return PaymentEvent.objects.create(provider=provider, **fields)
