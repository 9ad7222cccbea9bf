"""The provider-neutral capture webhook: verify, record, capture.

Every delivery is recorded as a PaymentEvent whatever becomes of it (billing.services.events):
a refused delivery's record in its own transaction, so it survives the rollback of anything
else; an accepted one's record together with the capture it caused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from billing.models import Invoice, PaymentEvent
from billing.services.capture import invoice_capture
from billing.services.events import DONE, event_claim, event_record
from common import metrics
from common.api.parsers import parse_json_bytes
from common.db import require_transaction
from common.errors import DomainError, Invalid, InvalidState, NotFound, Rejected

logger = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300
Outcome = PaymentEvent.Outcome
PROVIDER = Invoice.Provider.PAYMENT
EVENT_TYPE = "payment.captured"


class InvalidSignature(Rejected):
    code = "invalid_signature"


@dataclass(frozen=True)
class PaymentNotice:
    event_id: str
    invoice_id: UUID
    payment_reference: str
    amount: Decimal
    currency: str


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
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, several `v1` allowed.

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
            signatures.append(value.encode("ascii", "replace"))
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


def payment_notice_parse(raw_body: bytes) -> PaymentNotice:
    """`{event_id?, invoice_id, payment_reference, amount, currency}`; raises Invalid."""
    try:
        data = parse_json_bytes(raw_body)
    except (ValueError, UnicodeDecodeError) as error:
        raise Invalid("non_field_errors", "The body is not valid JSON.") from error
    if not isinstance(data, dict):
        raise Invalid("non_field_errors", "The body must be a JSON object.")
    event_id = data.get("event_id", "")
    if not isinstance(event_id, str) or len(event_id) > 255 or "\x00" in event_id:
        raise Invalid("event_id", "Must be a string of at most 255 characters, without NUL.")
    try:
        invoice_id = uuid.UUID(_required_text(data, "invoice_id"))
    except ValueError as error:
        raise Invalid("invoice_id", "Must be a UUID.") from error
    reference = _required_text(data, "payment_reference").strip()
    if not reference or len(reference) > 255 or "\x00" in reference:
        raise Invalid("payment_reference", "Must be 1 to 255 characters, without NUL.")
    currency = _required_text(data, "currency").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise Invalid("currency", "Must be a three-letter ISO 4217 code.")
    return PaymentNotice(
        event_id=event_id,
        invoice_id=invoice_id,
        payment_reference=reference,
        amount=_amount(data.get("amount")),
        currency=currency,
    )


def _required_text(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise Invalid(name, "This field is required and must be a string.")
    return value


MAX_AMOUNT_DIGITS = 20
# Money as the whole API takes it (docs/api.md, Numbers): a string of plain digits.
PLAIN_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
AMOUNT_PLACES = 2


def _amount(value: object) -> Decimal:
    """A JSON number or a string of plain digits with at most 2 places, as every money field
    of the API: `"5.000"`, `"5e0"`, `" 5"` or `"+5"` are refused though their value would do,
    so what a sender means is never a guess."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise Invalid("amount", 'A decimal amount is required, like 5 or "5.00".')
    if isinstance(value, str) and not PLAIN_AMOUNT.fullmatch(value):
        raise Invalid("amount", 'Write the amount as digits and a decimal point, like "5.00".')
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise Invalid("amount", 'A decimal amount is required, like 5 or "5.00".') from error
    if not amount.is_finite() or amount < 0:
        raise Invalid("amount", "Must be a non-negative amount with at most 2 decimal places.")
    # Far beyond any invoice, and rounding it to cents would exceed a decimal's 28 digits.
    if amount.adjusted() >= MAX_AMOUNT_DIGITS:
        raise Invalid("amount", "Too large to be an invoice's amount.")
    if -amount.as_tuple().exponent > AMOUNT_PLACES:
        raise Invalid("amount", "Must be a non-negative amount with at most 2 decimal places.")
    return amount


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
        event_record(**record, signature_valid=True, error=f"{refusal.field}: {refusal}")
        metrics.webhook_refused(provider=PROVIDER, reason=refusal.code)
        raise
    try:
        answer, refusal = _process(notice, text)
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
        event = event_claim(provider=PROVIDER, event_id=notice.event_id, fields=fields)
        if event.outcome in DONE:
            event.save(update_fields=["deliveries"])
            return WebhookAnswer(status="already_processed", invoice_id=notice.invoice_id), None
        return payment_event_capture(event, notice)


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
    except (NotFound, Rejected, InvalidState) as error:
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
