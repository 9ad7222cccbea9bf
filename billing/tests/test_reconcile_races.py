"""Reconciliation beside live traffic, on PostgreSQL with real threads, each with its own
connection."""

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import Invoice, TokenBundlePurchase
from billing.services import reconcile
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.concurrency import meeting
from tokens.models import TokenAccount, TokenTransaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_refund_committing_while_reconciliation_waits_for_the_invoice_credits_nothing():
    """Reconciliation lists a paid invoice whose purchase was never delivered, then waits for
    its row while a refund holds it. Before, it delivered the purchase of the invoice the
    refund had just committed: its tokens were credited though the money had gone back."""
    user = UserFactory()
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=1000)]).invoice
    Invoice.objects.filter(pk=invoice.pk).update(
        status="paid", paid_at=timezone.now(), provider="payment", payment_reference="p"
    )
    report = reconcile.ReconcileReport(dry_run=False)

    answers = meeting(
        lambda: services.invoice_refund(invoice_id=invoice.pk),
        lambda: reconcile.paid_invoices_complete(report),
    )

    assert isinstance(answers["held"], services.RefundResult)
    assert answers["waiting"] is None
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    entries = TokenTransaction.objects.filter(account__user=user)
    assert list(entries.values_list("transaction_type", "amount")) == []
    assert not TokenAccount.objects.filter(user=user, balance__gt=0).exists()
    assert TokenBundlePurchase.objects.get(invoice=invoice).status != "completed"
    assert report.paid_invoices_completed == 0
