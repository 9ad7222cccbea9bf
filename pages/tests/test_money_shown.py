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
from common.templatetags.money import money

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


@pytest.mark.parametrize(
    ("code", "symbol", "places", "amount", "shown"),
    [
        ("USD", "$", 2, "10", "$10.00"),
        ("EUR", "€", 2, "10", "€10.00"),
        ("JPY", "¥", 0, "500", "¥500"),
        ("CAD", "CA$", 2, "10", "CA$10.00"),
        ("CHF", "CHF", 2, "45", "CHF 45.00"),
        ("VND", "VND", 0, "50000", "VND 50000"),
        ("SEK", "kr", 2, "10", "kr 10.00"),
    ],
)
def test_a_symbol_of_letters_is_set_apart_from_the_amount(code, symbol, places, amount, shown):
    """A currency whose symbol is its code (CHF, VND, any code not in KNOWN_CURRENCIES) was
    written `CHF45.00`, `VND50000` on every page and PDF receipt."""
    currency = Currency(code=code, symbol=symbol, decimal_places=places)

    assert money(Decimal(amount), currency) == shown


def test_a_code_as_symbol_is_spaced_on_the_pages_and_the_pdf_receipt(client, user):
    Currency.objects.filter(is_default=True).update(code="CHF", symbol="CHF", decimal_places=2)
    francs = Currency.objects.get(is_default=True)
    bundle = TokenBundleFactory(price=Decimal("45"), token_amount=4, currency=francs)
    invoice = checkout(user, bundles=[bundle]).invoice
    capture(invoice)
    invoice.refresh_from_db()
    client.force_login(user)

    purchase = client.get(reverse("pages:purchase")).content.decode()
    invoice_page = client.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()
    receipt = render_to_string(
        "billing/receipt.html",
        {"invoice": invoice, "lines": list(invoice.line_items.all()), "seller": {}},
    )

    assert re.findall(r"CHF ?[0-9.]+", purchase) == ["CHF 45.00", "CHF 11.2500"]
    # The running total's script writes its sum after this prefix.
    assert 'data-symbol="CHF "' in purchase
    assert "CHF 45.00" in invoice_page
    assert "CHF 45.00" in receipt
    assert re.findall(r"CHF[0-9]", purchase + invoice_page + receipt) == []
