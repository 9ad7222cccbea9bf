"""Refunds: the invoice, its subscription and add-ons, and the tokens not yet spent."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import partial
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice
from billing.selectors import invoice_get
from billing.services import notices
from billing.services.fulfilment import TakeBack, invoice_take_back
from billing.services.invoices import add_on_checkouts_cancel, add_ons_paid_alone_onto_renewal
from billing.services.renewals import add_on_periods_lock, renewals_lock
from common.audit import staff_action_record
from common.db import once_more_if_rolled_back_for_another
from common.errors import InvalidState
from events.services import events_emit

logger = logging.getLogger(__name__)


class InvoiceAlreadyRefunded(InvalidState):
    code = "already_refunded"
    default_message = "This invoice has already been refunded."


@dataclass(frozen=True)
class RefundResult:
    invoice: Invoice
    tokens_reversed: int = 0
    tokens_unrecovered: int = 0
    subscriptions_cancelled: int = 0
    addons_cancelled: int = 0
    # What was left of the refunded period's included tokens, voided with it.
    included_tokens_voided: int = 0
    # What Stripe did, when it did not refund the money itself: "" (it refunded, or the
    # payment is not Stripe's), `already_refunded` or `disputed`.
    stripe_refused: str = ""
    # Whether Stripe returned the money in this request (a staff refund of a Stripe payment).
    provider_refunded: bool = False

    @property
    def provider_refund_skipped(self) -> str | None:
        """Why no money went back through the provider in this request: `already_refunded`
        or `disputed` (Stripe refused), `not_stripe` (a payment made otherwise: its money is
        returned outside this service); None when Stripe refunded it."""
        if self.provider_refunded:
            return None
        return self.stripe_refused or "not_stripe"


def invoice_refund(*, invoice_id: UUID, actor_id: UUID | None = None) -> RefundResult:
    """Marks a paid invoice refunded and takes back what it bought in the same transaction:
    subscription and add-ons end, and through `invoice_refunded` each purchase's unspent
    tokens are taken back (what was already spent is recorded on the purchase). Pending
    checkouts of add-ons that rely on its subscription move onto the user's plan that runs
    (a renewal of it first), or, with none, are cancelled.

    The invoice row lock makes concurrent refunds refund once; its subscriptions (with the
    user's unended periods of their plans, in id order: a renewal waiting for one moves up
    to start at the refund), then the add-on checkouts' invoices in id order, then the
    add-on rows it writes in id order (with the user's unended periods of its add-ons: one
    paid early, waiting for a period refunded, moves up to start at the refund), are locked
    after it and before the token account. Raises NotFound, InvoiceAlreadyRefunded,
    InvalidState unless paid.

    At the instant a period ends, a refund whose clock is still inside it holds the
    renewal's row and waits for an add-on checkout's invoice, whose payment (its clock past
    the end) holds it and reads the renewal FOR SHARE: PostgreSQL rolls one back, and that
    one runs once more, after the other (outside a caller's transaction).

    `actor_id`, the staff member who refunds, is recorded with the refund (common.audit).
    """
    return once_more_if_rolled_back_for_another(partial(_refund, invoice_id, actor_id))


def _refund(invoice_id: UUID, actor_id: UUID | None) -> RefundResult:
    with transaction.atomic():
        invoice = invoice_get(invoice_id=invoice_id, for_update=True)
        _refundable(invoice)
        invoice.status = Invoice.Status.REFUNDED
        invoice.refunded_at = timezone.now()
        invoice.save(update_fields=["status", "refunded_at", "updated_at"])
        # Add-ons bought without a plan rely on this invoice's: their pending checkouts end
        # with it, so a payment arriving for one later activates nothing. Before the tokens
        # are taken back: a capture of one locks its invoice, then the token account.
        # A renewal of the plan, still running or waiting, keeps them: they move onto it;
        # so does another plan that runs (read FOR SHARE, after this one's).
        renewal = renewals_lock(invoice=invoice, now=invoice.refunded_at)
        add_on_checkouts_cancel(
            plan_invoice_id=invoice.pk, user_id=invoice.user_id, renewal_id=renewal
        )
        # Then the add-on rows it writes, in id order as a capture of an add-on paid early
        # locks the running periods: a waiting one moves up (invoice_take_back).
        add_on_periods_lock(invoice=invoice, now=invoice.refunded_at)
        if renewal is not None:
            add_ons_paid_alone_onto_renewal(plan_invoice_id=invoice.pk, renewal_id=renewal)
        taken_back = invoice_take_back(invoice=invoice)
        staff_action_record(
            actor_id=actor_id,
            instances=[invoice],
            message=f"Refunded: {_taken_back_text(taken_back)}.",
        )
        events_emit(
            [
                notices.invoice_refunded(
                    invoice,
                    tokens_reversed=taken_back.tokens_reversed,
                    tokens_unrecovered=taken_back.tokens_unrecovered,
                )
            ]
        )
    return RefundResult(
        invoice=invoice,
        tokens_reversed=taken_back.tokens_reversed,
        tokens_unrecovered=taken_back.tokens_unrecovered,
        subscriptions_cancelled=taken_back.subscriptions_cancelled,
        addons_cancelled=taken_back.addons_cancelled,
        included_tokens_voided=taken_back.included_tokens_voided,
    )


def _taken_back_text(taken_back: TakeBack) -> str:
    """The tokens a refund took back as the invoice's history says it: a plan's included
    tokens are voided, not counted with the purchases', and the record said "0 tokens taken
    back" of a refund that had just taken its 100 included tokens."""
    included = taken_back.included_tokens_voided
    voided = f", and {included} included tokens of its plan voided" if included else ""
    return f"{taken_back.tokens_reversed} tokens taken back{voided}"


def invoice_refund_with_provider(*, invoice_id: UUID, actor_id: UUID | None = None) -> RefundResult:
    """A staff refund: for a Stripe payment, the money first (Stripe's own idempotency key
    makes concurrent or repeated calls one refund), outside any transaction; then ours.

    If our part fails after Stripe refunded, Stripe's `charge.refunded` webhook completes it.
    A payment Stripe has refunded whole already (in its dashboard, its webhook lost) is
    refunded here too: the money went back. So is a disputed one, which Stripe refuses to
    refund: the customer's bank has the money (held while the dispute is open, kept when it
    is lost), so the tokens are taken back here and the result says Stripe refunded nothing
    (a dispute won later is flagged for a person: the money then comes back to us). The
    result says whether Stripe returned money now (`provider_refunded`) and, when not, why
    (`provider_refund_skipped`). Raises what invoice_refund raises, and PaymentProviderError.
    """
    invoice = invoice_get(invoice_id=invoice_id)
    _refundable(invoice)
    refused = ""
    refunded = False
    if invoice.provider == Invoice.Provider.STRIPE:
        try:
            stripe_gateway.refund_create(
                payment_intent=invoice.payment_reference, idempotency_key=f"refund:{invoice.pk}"
            )
            refunded = True
        except stripe_gateway.PaymentAlreadyRefunded:
            refused = "already_refunded"
        except stripe_gateway.PaymentDisputed:
            refused = "disputed"
            logger.warning(
                "Stripe refuses to refund %s of invoice %s: it is disputed, the bank has the "
                "money; refunding here without Stripe.",
                invoice.payment_reference,
                invoice.number,
            )
    result = invoice_refund(invoice_id=invoice_id, actor_id=actor_id)
    return replace(result, stripe_refused=refused, provider_refunded=refunded)


def _refundable(invoice: Invoice) -> None:
    if invoice.status == Invoice.Status.REFUNDED:
        raise InvoiceAlreadyRefunded(f"Invoice {invoice.number} has already been refunded.")
    if invoice.status != Invoice.Status.PAID:
        raise InvalidState(
            f"Only a paid invoice can be refunded; {invoice.number} is {invoice.status}."
        )
