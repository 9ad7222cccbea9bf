"""The `test` payment provider: a checkout page of this server, for `make run` and demos.

Only while PAYMENTS_TEST_MODE is on. Paying on the page is a payment like any other: it is
recorded as a PaymentEvent of provider `test` (its payload in the capture webhook's shape) and
captured by the capture webhook's own code (payment_event_capture, then invoice_capture), so it
shows in admin, can be re-processed, and reconciliation treats it as any other capture.

The page's form carries a signed one-time token naming the invoice, the user and a nonce. The
nonce is the payment event's id and the payment's reference: the event's unique constraint
makes a replayed form do nothing, and the capture's own idempotency (same provider and
reference) would answer `already_processed` even if it got that far. Every refusal changes
nothing: the checks run before anything is written, or roll back what the request wrote.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from billing.models import Invoice, PaymentEvent
from billing.selectors import invoice_get, invoice_with_items
from billing.services.events import event_claim
from billing.services.payment_webhook import (
    EVENT_TYPE,
    PaymentNotice,
    WebhookAnswer,
    payment_event_capture,
)
from billing.services.payments import (
    PaymentStart,
    invoice_require_pending,
    invoice_require_plan_running,
)
from common.errors import DomainError, Invalid, NotFound

PROVIDER = Invoice.Provider.TEST
FORM_SALT = "billing.test-payment-form"
FORM_MAX_AGE = timedelta(hours=1)


class FormTokenInvalid(DomainError):
    code = "invalid_form"
    http_status = 400
    default_message = (
        "This payment page has expired or was not made for you. Open it again from your invoice."
    )


class FormAlreadyUsed(DomainError):
    code = "already_submitted"
    default_message = "This payment form was already submitted; it is never acted on twice."


def payments_test_mode_on() -> bool:
    return settings.PAYMENTS_TEST_MODE


def invoice_pay_with_test_provider(*, invoice_id: UUID, user_id: UUID) -> PaymentStart:
    """The test checkout page's address (a path of this server) for the user's pending invoice.

    Writes nothing. Raises Invalid (`provider`) when test payments are off, NotFound (also for
    another user's invoice) and InvalidState unless the invoice is pending, or when its add-ons'
    plan has ended.
    """
    if not payments_test_mode_on():
        raise Invalid("provider", "Test payments are off on this server (PAYMENTS_TEST_MODE).")
    invoice = invoice_get(invoice_id=invoice_id, user_id=user_id)
    invoice_require_pending(invoice)
    invoice_require_plan_running(invoice)
    return PaymentStart(provider=PROVIDER, checkout_url=checkout_page_path(invoice.pk))


def checkout_page_path(invoice_id: UUID) -> str:
    return reverse("test_checkout:page", args=[invoice_id])


def checkout_page_open(*, invoice_id: UUID, user_id: UUID) -> tuple[Invoice, str]:
    """The user's pending invoice with its line items, and a new one-time form token for it.

    Raises NotFound when test payments are off or the invoice is not the user's, InvalidState
    unless it is pending.
    """
    _require_enabled()
    invoice = invoice_with_items(invoice_id=invoice_id, user_id=user_id)
    invoice_require_pending(invoice)
    invoice_require_plan_running(invoice)
    token = signing.dumps(
        {"invoice": str(invoice.pk), "user": str(user_id), "nonce": uuid.uuid4().hex},
        salt=FORM_SALT,
    )
    return invoice, token


def checkout_page_pay(*, invoice_id: UUID, user_id: UUID, form_token: str) -> WebhookAnswer:
    """Pays the user's invoice as the page's Pay button says, in one transaction: the payment
    event of provider `test` and the capture (with everything `invoice_paid` does) together.

    Raises NotFound (test payments off, another user's invoice), FormTokenInvalid,
    FormAlreadyUsed for a form already acted on, InvalidState unless pending; each after
    rolling back, so a refused request leaves nothing behind.
    """
    _require_enabled()
    with transaction.atomic():
        invoice = invoice_get(invoice_id=invoice_id, user_id=user_id, for_update=True)
        nonce = _form_nonce(form_token, invoice_id=invoice.pk, user_id=user_id)
        notice = PaymentNotice(
            event_id=f"test_{nonce}",
            invoice_id=invoice.pk,
            payment_reference=f"test_{nonce}",
            amount=invoice.total,
            currency=invoice.currency.code,
        )
        event = event_claim(
            provider=PROVIDER,
            event_id=notice.event_id,
            fields={
                "event_type": EVENT_TYPE,
                "payload": _payload(notice),
                "signature_valid": True,
                "payment_reference": notice.payment_reference,
            },
        )
        if event.outcome != PaymentEvent.Outcome.RECEIVED:
            raise FormAlreadyUsed()
        invoice_require_pending(invoice)
        answer, refusal = payment_event_capture(event, notice)
        if refusal is not None:
            raise refusal
    return answer


def checkout_page_decline(*, invoice_id: UUID, user_id: UUID, form_token: str) -> Invoice:
    """The page's Decline: the payer walked away, as from a real provider's page. Nothing is
    written and the invoice stays pending, so it can be paid later.

    Raises what checkout_page_pay raises for the same refusals.
    """
    _require_enabled()
    invoice = invoice_get(invoice_id=invoice_id, user_id=user_id)
    _form_nonce(form_token, invoice_id=invoice.pk, user_id=user_id)
    invoice_require_pending(invoice)
    return invoice


def checkout_page_settled(*, invoice_id: UUID, user_id: UUID) -> Invoice | None:
    """The user's invoice when it is paid or refunded, else None: a refused page of a paid
    invoice (Back onto it, Pay pressed twice before the page's script ran) leads to its
    receipt instead of telling the payer that nothing was done. Reads only."""
    try:
        invoice = invoice_get(invoice_id=invoice_id, user_id=user_id)
    except NotFound:
        return None
    settled = (Invoice.Status.PAID, Invoice.Status.REFUNDED)
    return invoice if invoice.status in settled else None


def _require_enabled() -> None:
    if not payments_test_mode_on():
        raise NotFound("Test payments are off on this server.")


def _form_nonce(form_token: str, *, invoice_id: UUID, user_id: UUID) -> str:
    try:
        claims = signing.loads(form_token, salt=FORM_SALT, max_age=FORM_MAX_AGE)
    except signing.BadSignature as error:
        raise FormTokenInvalid() from error
    if not isinstance(claims, dict) or claims.get("invoice") != str(invoice_id):
        raise FormTokenInvalid()
    if claims.get("user") != str(user_id):
        raise FormTokenInvalid()
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or len(nonce) != 32:
        raise FormTokenInvalid()
    return nonce


def _payload(notice: PaymentNotice) -> str:
    """The capture webhook's body for this payment, so staff can re-process it the same way."""
    return json.dumps(
        {
            "event_id": notice.event_id,
            "invoice_id": str(notice.invoice_id),
            "payment_reference": notice.payment_reference,
            "amount": str(notice.amount),
            "currency": notice.currency,
            "source": "test checkout page",
        }
    )
