"""Reading what a refund left (test_refunds_*)."""

from billing import services
from billing.models import Invoice
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from tokens.models import TokenAccount


def balance(user) -> int:
    return TokenAccount.objects.get(user=user).balance


def stripe_paid(user, fake_stripe) -> Invoice:
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=100)]).invoice
    Invoice.objects.filter(pk=invoice.pk).update(stripe_session_id="cs_test_x")
    services.invoice_capture(
        invoice_id=invoice.pk, payment_reference="pi_test_9", provider="stripe"
    )
    return invoice
