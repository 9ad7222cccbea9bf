"""The capture webhook's body: what a delivery says, read strictly (raises Invalid)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from uuid import UUID

from common.api.parsers import SEND_ONCE, DuplicateKey, parse_json_bytes
from common.errors import Invalid, InvalidFields
from common.text import storable


@dataclass(frozen=True)
class PaymentNotice:
    event_id: str
    invoice_id: UUID
    payment_reference: str
    amount: Decimal
    currency: str


def payment_notice_parse(raw_body: bytes) -> PaymentNotice:
    """`{event_id?, invoice_id, payment_reference, amount, currency}`; raises Invalid naming
    every field refused (InvalidFields), not the first one only."""
    try:
        data = parse_json_bytes(raw_body)
    except DuplicateKey as error:
        raise Invalid(error.key, SEND_ONCE) from error
    except (ValueError, UnicodeDecodeError) as error:
        raise Invalid("non_field_errors", "The body is not valid JSON.") from error
    if not isinstance(data, dict):
        raise Invalid("non_field_errors", "The body must be a JSON object.")
    readers = {
        "event_id": _event_id,
        "invoice_id": _invoice_id,
        "payment_reference": _payment_reference,
        "amount": lambda body: _amount(body.get("amount")),
        "currency": _currency,
    }
    parsed, refused = {}, {}
    for name, read in readers.items():
        try:
            parsed[name] = read(data)
        except Invalid as refusal:
            refused[refusal.field] = refusal.messages
    if refused:
        raise InvalidFields(refused)
    return PaymentNotice(**parsed)


def _event_id(data: dict) -> str:
    event_id = data.get("event_id", "")
    if not isinstance(event_id, str) or len(event_id) > 255 or not storable(event_id):
        raise Invalid(
            "event_id",
            "Must be a string of at most 255 characters, without NUL or lone surrogates.",
        )
    return event_id


def _invoice_id(data: dict) -> UUID:
    try:
        return uuid.UUID(_required_text(data, "invoice_id"))
    except ValueError as error:
        raise Invalid("invoice_id", "Must be a UUID.") from error


def _payment_reference(data: dict) -> str:
    reference = _required_text(data, "payment_reference").strip()
    if not reference or len(reference) > 255 or not storable(reference):
        raise Invalid(
            "payment_reference", "Must be 1 to 255 characters, without NUL or lone surrogates."
        )
    return reference


def _currency(data: dict) -> str:
    currency = _required_text(data, "currency").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise Invalid("currency", "Must be a three-letter ISO 4217 code.")
    return currency


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
