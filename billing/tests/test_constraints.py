"""Billing invariants that the database enforces, checked with the services bypassed."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Invoice, InvoiceLineItem, TokenBundlePurchase
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(user):
    return checkout(user, bundles=[TokenBundleFactory()])


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"quantity": 0}, "quantity_gte_1"),
        ({"unit_price": Decimal("-1")}, "unit_price_gte_0"),
        ({"total_price": Decimal("-1")}, "total_gte_0"),
    ],
)
def test_line_item_constraints(order, change, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        InvoiceLineItem.objects.filter(invoice=order.invoice).update(**change)


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"total": Decimal("-0.01")}, "total_gte_0"),
        ({"status": "paid"}, "paid_has_payment"),
    ],
)
def test_invoice_constraints(order, change, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Invoice.objects.filter(pk=order.invoice.pk).update(**change)


def test_a_payment_reference_pays_one_invoice(user, order):
    capture(order.invoice, reference="one-payment")
    other = checkout(user, bundles=[TokenBundleFactory()]).invoice

    with pytest.raises(IntegrityError, match="payment_once"), transaction.atomic():
        Invoice.objects.filter(pk=other.pk).update(
            status="paid",
            provider="payment",
            payment_reference="one-payment",
            paid_at=timezone.now(),
        )


def test_invoice_numbers_are_unique(user, order):
    other = checkout(user, bundles=[TokenBundleFactory()]).invoice

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=other.pk).update(number=order.invoice.number)


def test_a_completed_purchase_says_when(order):
    with pytest.raises(IntegrityError, match="completed_at"), transaction.atomic():
        TokenBundlePurchase.objects.filter(invoice=order.invoice).update(status="completed")
