"""The admin's invoice and catalog lists wrote an amount as its column holds it (two places)
beside no currency: a yen invoice's total read `500.00`, where the pages, the receipt and the
API say `¥500`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.tests.helpers import checkout
from catalog.models import Currency
from catalog.selectors import default_currency
from catalog.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("code", "places", "symbol", "price", "shown"),
    [("JPY", 0, "¥", "500", "¥500"), ("USD", 2, "$", "45", "$45.00")],
)
def test_the_lists_write_amounts_in_the_currencys_places_and_symbol(
    admin_client, user, code, places, symbol, price, shown
):
    raw = f"{price}.00"
    Currency.objects.filter(is_default=True).update(code=code, decimal_places=places, symbol=symbol)
    bundle = TokenBundleFactory(price=Decimal(price), currency=default_currency())
    checkout(user, bundles=[bundle])

    invoices = admin_client.get(reverse("admin:billing_invoice_changelist"))
    bundles = admin_client.get(reverse("admin:catalog_tokenbundle_changelist"))

    assert [answer.status_code for answer in (invoices, bundles)] == [200, 200]
    for answer in (invoices, bundles):
        cells = answer.content.decode()
        assert f">{shown}<" in cells
        assert f">{raw}<" not in cells
