"""Capture: a payment marks an invoice paid and activates everything on it, atomically."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing.models import AddOnSubscription, Invoice
from billing.selectors import add_ons_without_their_plan, invoice_get, subscription_active
from billing.services.fulfilment import invoice_deliver
from billing.services.payments import plan_ended_require_another, stripe_session_end
from billing.services.sessions import session_end_recorded
from billing.stripe_gateway import PaymentProviderError
from common import metrics
from common.audit import staff_action_record
from common.db import once_more_if_rolled_back_for_another
from common.errors import InvalidState, NotFound, Rejected

logger = logging.getLogger(__name__)


class AmountMismatch(Rejected):
    code = "amount_mismatch"


class CurrencyMismatch(Rejected):
    code = "currency_mismatch"


class PaymentReferenceUsed(InvalidState):
    """A permanent refusal: the payment cannot pay this invoice, however often it is sent."""

    default_message = "This payment reference already paid another invoice."


@dataclass(frozen=True)
class CaptureResult:
    """What this capture did: for a repeated delivery, nothing (`already_processed`)."""

    invoice: Invoice
    status: str
    subscription_activated: bool = False
    tokens_credited: int = 0
    addons_activated: int = 0


def invoice_capture(
    *,
    invoice_id: UUID,
    payment_reference: str,
    provider: str,
    amount: Decimal | None = None,
    currency: str | None = None,
    stripe_session_id: str | None = None,
    actor_id: UUID | None = None,
) -> CaptureResult:
    """Marks a pending invoice paid and delivers what it bought in the same transaction (its
    subscription and add-ons, and its tokens through `invoice_paid`), all or nothing.

    The invoice row is locked first, so concurrent deliveries of one payment capture once.
    `amount` and `currency`, when the provider states them, must equal the invoice's;
    `stripe_session_id`, when given, must still be the pending invoice's Stripe session (a
    caller that expired it, and a payment started since, is refused); without it, an open
    session of an invoice another provider paid is expired once the capture commits.
    The same payment again answers `already_processed` and changes nothing. Raises NotFound,
    CurrencyMismatch, AmountMismatch (the invoice stays pending), InvalidState for an invoice
    that is cancelled, refunded or paid by another payment, PaymentReferenceUsed when the
    payment already paid another invoice; and whatever a receiver raises, after rolling back.
    Rolled back to end a deadlock (a refund of the plan it moves add-ons onto, at the
    instant their plan ends), it runs once more, outside a caller's transaction. With
    `actor_id`, a capture that pays the invoice records that staff member (common.audit).
    """
    return once_more_if_rolled_back_for_another(
        partial(
            _capture_once,
            invoice_id,
            payment_reference,
            provider,
            amount,
            currency,
            stripe_session_id,
            actor_id,
        )
    )


def _capture_once(
    invoice_id: UUID,
    payment_reference: str,
    provider: str,
    amount: Decimal | None,
    currency: str | None,
    stripe_session_id: str | None,
    actor_id: UUID | None,
) -> CaptureResult:
    try:
        with transaction.atomic():
            return _capture(
                invoice_id,
                payment_reference,
                provider,
                amount,
                currency,
                stripe_session_id,
                actor_id,
            )
    except IntegrityError as error:
        used = Invoice.objects.filter(provider=provider, payment_reference=payment_reference)
        if used.exclude(pk=invoice_id).exists():
            raise PaymentReferenceUsed() from error
        raise


def _capture(
    invoice_id: UUID,
    payment_reference: str,
    provider: str,
    amount: Decimal | None,
    currency: str | None,
    stripe_session_id: str | None,
    actor_id: UUID | None,
) -> CaptureResult:
    invoice = _invoice_locked(invoice_id)
    if invoice.status in (Invoice.Status.PAID, Invoice.Status.REFUNDED):
        if (invoice.provider, invoice.payment_reference) == (provider, payment_reference):
            return CaptureResult(invoice=invoice, status="already_processed")
        raise InvalidState(f"Invoice {invoice.number} is already paid by another payment.")
    if invoice.status != Invoice.Status.PENDING:
        raise InvalidState(f"Invoice {invoice.number} is {invoice.status}; it cannot be paid.")
    if stripe_session_id is not None and invoice.stripe_session_id != stripe_session_id:
        raise InvalidState(
            "A payment was started for this invoice meanwhile; mark it paid again to end it too."
        )
    if currency is not None and currency.upper() != invoice.currency.code:
        raise CurrencyMismatch(
            f"The payment is in {currency.upper()}; invoice {invoice.number} is in "
            f"{invoice.currency.code}."
        )
    if amount is not None and amount != invoice.total:
        raise AmountMismatch(
            f"The payment is {amount}; invoice {invoice.number} is {invoice.total}."
        )
    if invoice.plan_ended:
        _add_ons_onto_the_plan_that_runs(invoice)
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = timezone.now()
    invoice.provider = provider
    invoice.payment_reference = payment_reference
    fields = ["status", "paid_at", "provider", "payment_reference", "updated_at"]
    session_open = invoice.stripe_session_id and provider != Invoice.Provider.STRIPE
    if session_open and stripe_session_id is not None:
        # The caller expired it first: nothing for reconcile_purchases to ask Stripe again.
        invoice.stripe_session_expires_at = None
        fields.append("stripe_session_expires_at")
    invoice.save(update_fields=fields)

    delivery = invoice_deliver(invoice=invoice)
    staff_action_record(
        actor_id=actor_id, instances=[invoice], message=f"Marked paid: {payment_reference}"
    )
    if session_open and stripe_session_id is None:
        # robust: anything unforeseen there is logged by Django, and the committed capture
        # still answers as one.
        transaction.on_commit(partial(_session_end_after_capture, invoice), robust=True)
    metrics.invoice_captured(provider=provider)
    return CaptureResult(
        invoice=invoice,
        status="success",
        subscription_activated=delivery.subscription_activated,
        tokens_credited=delivery.tokens_credited,
        addons_activated=delivery.addons_activated,
    )


def invoice_mark_paid(
    *, invoice_id: UUID, payment_reference: str, actor_id: UUID | None = None
) -> CaptureResult:
    """Staff record a payment made outside the providers (a bank transfer, say): captured as
    `manual`. A Stripe Checkout Session still open for the invoice is expired first, outside
    any transaction, as a cancel does: one invoice, one way to pay it. Otherwise the
    customer's Stripe tab still took a second payment for the paid invoice.

    Raises what invoice_capture raises; InvalidState also when Stripe has taken a payment
    for it (its webhook captures the invoice) or a payment was started meanwhile;
    PaymentProviderError when Stripe cannot be asked. Nothing changes then. `actor_id` is
    the staff member, recorded with the payment (common.audit).
    """
    invoice = invoice_get(invoice_id=invoice_id)
    if invoice.status == Invoice.Status.PENDING:
        stripe_session_end(invoice)
    return invoice_capture(
        invoice_id=invoice_id,
        payment_reference=payment_reference,
        provider=Invoice.Provider.MANUAL,
        stripe_session_id=invoice.stripe_session_id,
        actor_id=actor_id,
    )


def _session_end_after_capture(invoice: Invoice) -> None:
    """The Stripe session of an invoice another provider paid, once that capture commits (an
    HTTP call): the customer's Stripe tab would otherwise still take a second payment for
    it. One that took a payment already is flagged `needs_review` by its webhook for a
    person to refund, or by `reconcile_purchases` should that webhook be lost; one Stripe
    cannot be asked about is asked again by `reconcile_purchases` (the capture stands
    meanwhile)."""
    try:
        session_end_recorded(invoice)
    except PaymentProviderError as error:
        logger.warning(
            "The Stripe session %s of invoice %s, paid through %s, was not expired (%s); "
            "reconcile_purchases asks Stripe again.",
            invoice.stripe_session_id,
            invoice.number,
            invoice.provider,
            error,
        )


def _add_ons_onto_the_plan_that_runs(invoice: Invoice) -> None:
    """Add-ons bought alone whose plan has ended, paid before the sweep moved them: they rely
    on the user's plan that runs (a renewal), read FOR SHARE as a checkout reads it, so a
    refund of it waits for this capture or goes first and leaves no plan (InvalidState, and
    nothing changes). Taken only here, after the invoice and before the token account: a
    refund of that plan locks only invoices relying on it, which this one does not yet."""
    running = subscription_active(user_id=invoice.user_id, for_share=True)
    plan_ended_require_another(invoice, running)
    AddOnSubscription.objects.filter(
        pk__in=add_ons_without_their_plan(invoice.pk).values("pk")
    ).update(subscription=running, updated_at=timezone.now())


def _invoice_locked(invoice_id: UUID) -> Invoice:
    """The invoice, locked, and whether add-ons on it bought without a plan rely on a
    subscription that is no longer running (`plan_ended`): paid between its end and the
    sweep that moves or cancels such checkouts, they need the plan that runs. One query."""
    invoices = (
        Invoice.objects.select_related("currency")
        .select_for_update(of=("self",))
        .annotate(plan_ended=Exists(add_ons_without_their_plan(OuterRef("pk"))))
    )
    try:
        return invoices.get(pk=invoice_id)
    except Invoice.DoesNotExist as error:
        raise NotFound("No invoice with this id.") from error
