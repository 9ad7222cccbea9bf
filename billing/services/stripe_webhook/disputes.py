"""A chargeback and the bank's decision on it: neither changes an invoice or its tokens here
(a dispute may be won, and taking tokens back is a person's decision); each tells a person
what the money did, naming the invoice it paid."""

from __future__ import annotations

from billing.models import Invoice
from billing.services.stripe_webhook.outcomes import PROVIDER, Handled, Outcome, amount_text
from billing.services.stripe_webhook.payments import charge_reference


def dispute_created(dispute: dict) -> Handled:
    """A chargeback: Stripe takes the money back from our balance while the bank decides.
    Nothing changes here (a dispute may be won, and taking tokens back is a person's
    decision), but money and invoice now disagree, so a person is told."""
    reference, invoice = _disputed_payment(dispute)
    paid = f"which paid invoice {invoice.number}" if invoice else "which paid no invoice here (yet)"
    return Handled(
        Outcome.NEEDS_REVIEW,
        f"The customer disputed {_disputed_amount(dispute, reference)} ({dispute.get('reason')}), "
        f"{paid}: Stripe has taken the money back until the dispute is decided. The invoice "
        "and its tokens are as they were; answer the dispute at Stripe and decide about the "
        "tokens.",
        invoice.pk if invoice else None,
        reference,
    )


def dispute_closed(dispute: dict) -> Handled:
    """The bank's decision. Lost, the money stays with the customer for good while the
    invoice here is still paid and its tokens spendable: a person is told, naming the
    invoice (whoever settled the dispute's first event heard nothing more otherwise). Won
    (or closed otherwise), the money comes back: recorded, nothing to do, unless the invoice
    was refunded here meanwhile (Stripe refused that refund): then a person is told."""
    reference, invoice = _disputed_payment(dispute)
    status = str(dispute.get("status") or "")
    reason = dispute.get("reason")
    about = f"The customer's dispute of {_disputed_amount(dispute, reference)} ({reason})"
    if status == "won" and invoice is not None and invoice.status == Invoice.Status.REFUNDED:
        return Handled(
            Outcome.NEEDS_REVIEW,
            f"{about} is won: Stripe gives the money back, but invoice {invoice.number} was "
            "refunded here (Stripe refuses to refund a disputed payment) and its tokens taken "
            "back. Refund the payment at Stripe now, or settle the invoice by hand.",
            invoice.pk,
            reference,
        )
    if status != "lost":
        ended = (
            "is won: Stripe gives the money back"
            if status == "won"
            else f"is closed ({status}): no money was taken for good"
        )
        return Handled(
            Outcome.PROCESSED,
            f"{about} {ended}. Nothing was changed.",
            invoice.pk if invoice else None,
            reference,
        )
    paid = f"it paid invoice {invoice.number}" if invoice else "it paid no invoice here"
    return Handled(
        Outcome.NEEDS_REVIEW,
        f"{about} is lost, and {paid}: the money stays with the customer. The invoice and its "
        "tokens are as they were; decide about the tokens.",
        invoice.pk if invoice else None,
        reference,
    )


def _disputed_payment(dispute: dict) -> tuple[str, Invoice | None]:
    """The disputed payment, and the invoice it paid here, if any."""
    reference = charge_reference(dispute)
    invoice = (
        Invoice.objects.filter(provider=PROVIDER, payment_reference=reference)
        .order_by("pk")
        .first()
        if reference
        else None
    )
    return reference, invoice


def _disputed_amount(dispute: dict, reference: str) -> str:
    return f"{amount_text(dispute)} of {reference or dispute.get('charge')}"
