"""Prices and totals on the pages are written with their currency's places, as the API and the
contract write money: a currency without minor units shows ¥500, not ¥500.00."""

import re
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from billing.tests.helpers import capture, checkout
from catalog.models import Currency
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def yen():
    Currency.objects.filter(is_default=True).update(code="JPY", symbol="¥", decimal_places=0)
    return Currency.objects.get(is_default=True)


def amounts(page: str) -> set[str]:
    return set(re.findall(r"¥[0-9.]+", page))


def test_a_currency_without_minor_units_shows_whole_amounts_on_every_page(client, user, yen):
    bundle = TokenBundleFactory(price=Decimal("500"), token_amount=4, currency=yen)
    PlanFactory(price=Decimal("2900"), currency=yen)
    AddOnFactory(price=Decimal("300"), currency=yen)
    invoice = checkout(user, bundles=[bundle, bundle]).invoice
    prices = client.get(reverse("pages:home")).content.decode()
    client.force_login(user)

    shown = {
        "prices": amounts(prices),
        "purchase": amounts(client.get(reverse("pages:purchase")).content.decode()),
        "invoice": amounts(
            client.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()
        ),
        "invoices": amounts(client.get(reverse("pages:invoices")).content.decode()),
        "receipt page": amounts(
            client.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()
        ),
    }

    # Per token stays to 4 places, as the API's price_per_token.
    offers = {"¥500", "¥125.0000", "¥2900", "¥300"}
    assert shown == {
        "prices": offers,
        "purchase": offers,
        "invoice": {"¥500", "¥1000"},
        "invoices": {"¥1000"},
        "receipt page": {"¥1000"},
    }


def test_the_pdf_receipt_writes_the_currency_s_places(user, yen):
    invoice = checkout(
        user, bundles=[TokenBundleFactory(price=Decimal("500"), currency=yen)]
    ).invoice
    capture(invoice)
    invoice.refresh_from_db()

    html = render_to_string(
        "billing/receipt.html",
        {"invoice": invoice, "lines": list(invoice.line_items.all()), "seller": {}},
    )

    assert amounts(html) == {"¥500"}
