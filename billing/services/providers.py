"""Which payment provider an invoice is paid with, and where its payer goes."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings

from billing.models import Invoice
from billing.services.payments import PaymentStart, invoice_pay_with_stripe
from billing.services.payments_test_mode import invoice_pay_with_test_provider


def payment_provider_default() -> str | None:
    """The provider the purchase page uses: Stripe when it is configured, else the test
    provider when test payments are on, else None: nothing can take a payment."""
    if settings.STRIPE_SECRET_KEY:
        return Invoice.Provider.STRIPE
    if settings.PAYMENTS_TEST_MODE:
        return Invoice.Provider.TEST
    return None


def invoice_pay_start(*, invoice_id: UUID, user_id: UUID, provider: str) -> PaymentStart:
    """Where the user goes to pay their pending invoice with `provider` (`stripe` or `test`).

    Raises what invoice_pay_with_stripe or invoice_pay_with_test_provider raise.
    """
    if provider == Invoice.Provider.TEST:
        return invoice_pay_with_test_provider(invoice_id=invoice_id, user_id=user_id)
    return invoice_pay_with_stripe(invoice_id=invoice_id, user_id=user_id)
