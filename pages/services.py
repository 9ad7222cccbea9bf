"""The purchase flow of the pages: a checkout, then Stripe Checkout (or the test provider's
page when Stripe is not configured and test payments are on)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from django.urls import reverse

from billing import services as billing
from billing.models import Invoice
from common.errors import InvalidState


def purchase_start(*, user_id: UUID, bundle_ids: Sequence[UUID], submission: UUID) -> str:
    """Checks out the chosen bundles and starts paying with the default provider (Stripe, else
    the test provider); returns where the browser goes next.

    `submission` is fixed when the page is rendered, so a double click or a resubmit after
    the back button finds the same invoice (the checkout's idempotency key) and the same
    Stripe session (its stored session) or test page, and a paid one sends the browser to its
    receipt.
    Raises Invalid (from checkout), InvalidState for a cancelled purchase and
    PaymentProviderError.
    """
    result = billing.checkout_create(
        user_id=user_id,
        plan_id=None,
        token_bundle_ids=list(bundle_ids),
        add_on_ids=[],
        idempotency_key=f"page:{submission}",
    )
    invoice = result.invoice
    if invoice.status in (Invoice.Status.PAID, Invoice.Status.REFUNDED):
        return purchase_success_url(invoice)
    if invoice.status == Invoice.Status.CANCELLED:
        raise InvalidState("That purchase was cancelled; choose your bundles again.")
    started = billing.invoice_pay_start(
        invoice_id=invoice.pk, user_id=user_id, provider=billing.payment_provider_default()
    )
    return started.checkout_url


def purchase_success_url(invoice: Invoice) -> str:
    return f"{reverse('pages:purchase-success')}?invoice={invoice.pk}"
