import pytest

from billing import services
from billing.models import AddOnSubscription, Invoice, Subscription, TokenBundlePurchase
from billing.tests.helpers import checkout
from billing.tests.refund_helpers import balance, stripe_paid
from catalog.tests.factories import TokenBundleFactory
from common.errors import InvalidState
from common.tests.helpers import database_state
from tokens import services as token_services
from tokens.models import TokenTransaction
from tokens.selectors import ledger_check

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def reversals(user) -> list[tuple[int, str]]:
    entries = TokenTransaction.objects.filter(account__user=user, transaction_type="reversal")
    return sorted(entries.values_list("amount", "reference_id"))


def test_a_refund_takes_back_every_unspent_token_and_ends_everything(user, paid):
    result = services.invoice_refund(invoice_id=paid.invoice.pk)

    assert (result.tokens_reversed, result.tokens_unrecovered) == (1050, 0)
    assert (result.subscriptions_cancelled, result.addons_cancelled) == (1, 1)
    invoice = Invoice.objects.get(pk=paid.invoice.pk)
    assert (invoice.status, invoice.refunded_at is not None) == ("refunded", True)
    assert Subscription.objects.get(invoice=invoice).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=invoice).status == "cancelled"
    assert balance(user) == 0
    purchases = TokenBundlePurchase.objects.filter(invoice=invoice)
    assert reversals(user) == sorted((-p.tokens, str(p.pk)) for p in purchases)
    assert {(p.status, p.tokens_reversed, p.tokens_unrecovered) for p in purchases} == {
        ("refunded", 1000, 0),
        ("refunded", 50, 0),
    }
    assert list(ledger_check()) == []


def test_spent_tokens_are_recorded_not_taken_below_zero(user, paid):
    token_services.tokens_debit(user_id=user.pk, amount=1020)

    result = services.invoice_refund(invoice_id=paid.invoice.pk)

    assert (result.tokens_reversed, result.tokens_unrecovered) == (30, 1020)
    assert balance(user) == 0
    purchases = TokenBundlePurchase.objects.filter(invoice=paid.invoice)
    assert sum(p.tokens_reversed for p in purchases) == 30
    assert sum(p.tokens_unrecovered for p in purchases) == 1020
    assert not TokenTransaction.objects.filter(balance_after__lt=0).exists()
    assert list(ledger_check()) == []


def test_with_everything_spent_nothing_is_reversed_and_all_is_recorded(user, paid):
    token_services.tokens_debit(user_id=user.pk, amount=1050)

    result = services.invoice_refund(invoice_id=paid.invoice.pk)

    assert (result.tokens_reversed, result.tokens_unrecovered) == (0, 1050)
    assert reversals(user) == []


def test_a_second_refund_is_refused_and_changes_nothing(paid):
    services.invoice_refund(invoice_id=paid.invoice.pk)
    before = database_state()

    with pytest.raises(services.InvoiceAlreadyRefunded):
        services.invoice_refund(invoice_id=paid.invoice.pk)

    assert database_state() == before


def test_only_a_paid_invoice_can_be_refunded(user):
    pending = checkout(user, bundles=[TokenBundleFactory()]).invoice

    with pytest.raises(InvalidState, match="paid"):
        services.invoice_refund(invoice_id=pending.pk)


def test_stripe_failing_on_refund_is_502_and_changes_nothing(staff_client, user, fake_stripe):
    invoice = stripe_paid(user, fake_stripe)
    fake_stripe.fail_next(1)
    before = database_state()

    response = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")

    assert response.status_code == 502
    assert database_state() == before


def test_a_refund_stripe_failed_is_made_when_staff_retry(staff_client, user, fake_stripe):
    """Stripe keeps a key's first answer for 24 hours, a server error too: staff retrying a
    refund Stripe had failed were answered that error again all day, and the money could not
    go back. The retry now refunds, once; the failed attempt changed nothing."""
    invoice = stripe_paid(user, fake_stripe)
    fake_stripe.fail_next(1, saved=True)
    before = database_state()

    failed = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")
    assert failed.status_code == 502
    assert database_state() == before

    retried = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")
    again = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")

    assert retried.status_code == 200, retried.json()
    assert retried.json()["provider_refunded"] is True
    assert again.status_code == 409
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    assert len(fake_stripe.refunds) == 1
