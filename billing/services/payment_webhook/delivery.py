"""The capture webhook's deliveries: verify, record, capture.

Every delivery is recorded as a PaymentEvent whatever becomes of it (billing.services.events):
a refused delivery's record in its own transaction, so it survives the rollback of anything
else; an accepted one's record together with the capture it caused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import Invoice, PaymentEvent
from billing.services.capture import AmountMismatch, CurrencyMismatch, invoice_capture
from billing.services.events import DONE, event_claim, event_record, storable
from billing.services.payment_webhook.notice import PaymentNotice, payment_notice_parse
from common import metrics
from common.db import once_more_if_rolled_back_for_another, require_transaction
from common.errors import DomainError, Invalid, InvalidState, NotFound, Rejected

logger = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300
Outcome = PaymentEvent.Outcome
PROVIDER = Invoice.Provider.PAYMENT
EVENT_TYPE = "payment.captured"


class InvalidSignature(Rejected):
    code = "invalid_signature"


class EventIdReused(DomainError):
    """Another notice under an event id already used: as an idempotency key reused."""

    code = "event_id_reused"
    http_status = 422
    default_message = (
        "This event_id was already used for another payment; this delivery was recorded "
        "for a person to review and nothing was captured."
    )


@dataclass(frozen=True)
class WebhookAnswer:
    status: str
    invoice_id: UUID
    subscription_activated: bool = False
    tokens_credited: int = 0
    addons_activated: int = 0


def signature_verify(
    *, header: str | None, raw_body: bytes, secrets: Sequence[str], now: float
) -> None:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, several `v1` allowed,
    their hex in either case.

    Any v1 may match any configured secret (both sides can rotate). Comparison is in
    constant time. Raises InvalidSignature.
    """
    if not secrets:
        logger.warning("PAYMENT_WEBHOOK_SECRET is not set: refusing a payment webhook")
        raise InvalidSignature("No webhook secret is configured, so no delivery can be verified.")
    if not header:
        raise InvalidSignature("The X-Payment-Signature header is missing.")
    timestamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            # Hex in either case (some platforms write it upper case): one digest.
            signatures.append(value.lower().encode("ascii", "replace"))
    # Unix seconds have at most 12 digits for ten thousand years; a longer run of digits is
    # no time (and past 4,300 of them Python refuses to read it as a number).
    if (
        timestamp is None
        or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12)
        or not signatures
    ):
        raise InvalidSignature("The signature header must be t=<unix seconds>,v1=<hex digest>.")
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidSignature("The signature's timestamp is more than 300 seconds from now.")
    signed = timestamp.encode() + b"." + raw_body
    expected = [
        hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode() for secret in secrets
    ]
    if not any(hmac.compare_digest(e, s) for e in expected for s in signatures):
        raise InvalidSignature("The signature does not match the body.")


def payment_webhook_process(
    *,
    raw_body: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    forgery_recordable: Callable[[], bool],
) -> WebhookAnswer:
    """Verifies, records and captures one delivery of the capture webhook.

    Raises InvalidSignature or Invalid (recorded as rejected, nothing else changes), and the
    capture's refusals (recorded with the outcome; the invoice stays as it was). The same
    event id, or the same payment again, answers `already_processed`. A delivery with a bad
    signature is recorded only while `forgery_recordable()` says so (its sender's limit).
    """
    text = raw_body.decode("utf-8", errors="replace")
    record = {"provider": PROVIDER, "event_type": EVENT_TYPE, "payload": text}
    try:
        signature_verify(
            header=signature_header,
            raw_body=raw_body,
            secrets=secrets,
            now=timezone.now().timestamp(),
        )
    except InvalidSignature as refusal:
        if forgery_recordable():
            event_record(**record, signature_valid=False, error=refusal.message)
        metrics.webhook_refused(provider=PROVIDER, reason=refusal.code)
        raise
    try:
        notice = payment_notice_parse(raw_body)
    except Invalid as refusal:
        error = "; ".join(f"{field}: {' '.join(said)}" for field, said in refusal.fields.items())
        event_record(**record, signature_valid=True, error=error)
        metrics.webhook_refused(provider=PROVIDER, reason=refusal.code)
        raise
    try:
        # A capture rolled back to end a deadlock is run once more (see invoice_capture).
        answer, refusal = once_more_if_rolled_back_for_another(partial(_process, notice, text))
    except Exception as error:
        event_record(
            **record,
            signature_valid=True,
            event_id=notice.event_id,
            outcome=Outcome.FAILED,
            error=f"{type(error).__name__}: {error}",
        )
        raise
    if refusal is not None:
        metrics.webhook_refused(provider=PROVIDER, reason=refusal.code)
        raise refusal
    return answer


def _process(notice: PaymentNotice, text: str) -> tuple[WebhookAnswer, DomainError | None]:
    fields = {
        "event_type": EVENT_TYPE,
        "payload": text,
        "signature_valid": True,
        "payment_reference": notice.payment_reference,
    }
    with transaction.atomic():
        event = _flagged_before(notice, text) or event_claim(
            provider=PROVIDER, event_id=notice.event_id, fields=fields
        )
        if event.payload != storable(text) and _notice_of(event) != notice:
            return _event_id_reused(event, notice, text)
        if event.outcome in DONE:
            event.save(update_fields=["deliveries"])
            return WebhookAnswer(status="already_processed", invoice_id=notice.invoice_id), None
        return payment_event_capture(event, notice)


def _flagged_before(notice: PaymentNotice, text: str) -> PaymentEvent | None:
    """The row of a delivery without an event id flagged for a person already (a payment for
    an invoice it cannot pay), locked and with this delivery counted: the provider's retry
    of the same body counts there, so a person is told once and what they settled stays
    settled. A delivery with an event id finds its row by that id."""
    if notice.event_id:
        return None
    event = (
        PaymentEvent.objects.select_for_update()
        .filter(
            provider=PROVIDER,
            event_id="",
            signature_valid=True,
            outcome=Outcome.NEEDS_REVIEW,
            payload=storable(text),
        )
        .order_by("received_at", "pk")
        .first()
    )
    if event is not None:
        event.deliveries += 1
    return event


def _notice_of(event: PaymentEvent) -> PaymentNotice | None:
    """What the event's first delivery said (a redelivery may lay its JSON out otherwise)."""
    try:
        return payment_notice_parse(event.payload.encode())
    except Invalid:
        return None


def _event_id_reused(
    event: PaymentEvent, notice: PaymentNotice, text: str
) -> tuple[None, DomainError]:
    """Records a delivery reusing an event id for another notice in a row of its own (the id
    stays the first's), `needs_review`, capturing nothing: `already_processed` would lose the
    payment silently. A person settles it (staff re-process captures it). The provider's
    retries of it count in that row's `deliveries`, also once staff settled it (re-processed,
    its outcome and error are new): only this path stores a verified notice with an event id
    under no event id. The first event's row lock, held since `event_claim`, lets one of them
    at a time look for it."""
    error = f"Event id {notice.event_id!r} already names event {event.pk}, another payment."
    flagged = PaymentEvent.objects.filter(
        provider=PROVIDER, event_id="", signature_valid=True, payload=storable(text)
    )
    if not flagged.update(deliveries=F("deliveries") + 1, processed_at=timezone.now()):
        PaymentEvent.objects.create(
            provider=PROVIDER,
            event_type=EVENT_TYPE,
            payload=storable(text),
            signature_valid=True,
            payment_reference=notice.payment_reference,
            invoice_id=notice.invoice_id
            if Invoice.objects.filter(pk=notice.invoice_id).exists()
            else None,
            outcome=Outcome.NEEDS_REVIEW,
            error=error,
            processed_at=timezone.now(),
        )
    return None, EventIdReused()


def payment_event_capture(
    event: PaymentEvent, notice: PaymentNotice
) -> tuple[WebhookAnswer | None, DomainError | None]:
    """Captures what the event's notice says, as a payment of the event's provider, and
    records the outcome on the (locked) event, inside the caller's transaction. A refusal
    rolls back only the capture's savepoint."""
    require_transaction("payment_event_capture")
    refusal = answer = None
    try:
        with transaction.atomic():
            captured = invoice_capture(
                invoice_id=notice.invoice_id,
                payment_reference=notice.payment_reference,
                provider=event.provider,
                amount=notice.amount,
                currency=notice.currency,
            )
    except (InvalidState, AmountMismatch, CurrencyMismatch) as error:
        # The provider took the money for an invoice this payment cannot pay (cancelled,
        # refunded, paid by another payment; another amount or currency than the invoice's)
        # or a payment that paid another: the sender still hears the contract's 409 or 400,
        # and a person is told, as Stripe's webhook tells them.
        refusal = error
        event.outcome = Outcome.NEEDS_REVIEW
        event.error = (
            f"Paid at the provider, not captured: {error.message} "
            "Refund it at the provider or settle it by hand."
        )
        event.invoice_id = notice.invoice_id
    except (NotFound, Rejected) as error:
        refusal = error
        event.outcome, event.error = Outcome.REJECTED, error.message
        if not isinstance(error, NotFound):
            event.invoice_id = notice.invoice_id
    else:
        processed = captured.status == "success"
        event.outcome = Outcome.PROCESSED if processed else Outcome.ALREADY_PROCESSED
        event.error = ""
        event.invoice_id = notice.invoice_id
        answer = WebhookAnswer(
            status=captured.status,
            invoice_id=notice.invoice_id,
            subscription_activated=captured.subscription_activated,
            tokens_credited=captured.tokens_credited,
            addons_activated=captured.addons_activated,
        )
    event.processed_at = timezone.now()
    event.save()
    return answer, refusal
