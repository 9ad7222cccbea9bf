"""A deployment migrated before the default currency got the places Stripe counts it in kept
VND, CLP, XOF… at 2 places, and every price went to Stripe multiplied by 100; the admin shows
places read-only. Migration billing 0016 corrects them where nothing sold or priced changes meaning,
and the system check billing.E001 stops `migrate` (so the start) where it cannot."""

from decimal import Decimal

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from billing.tests.helpers import checkout
from catalog.models import Currency
from catalog.tests.factories import TokenBundleFactory

BEFORE = [("catalog", "0006_description_at_most_5000"), ("billing", "0015_pending_items_index")]
CORRECTION = ("billing", "0016_default_currency_places")


def currency_errors() -> list[checks.CheckMessage]:
    """What the checks `migrate` runs say of the default currency."""
    return [
        found for found in checks.run_checks(databases=["default"]) if found.id == "billing.E001"
    ]


def default_as(code: str, places: int) -> Currency:
    Currency.objects.filter(is_default=True).update(code=code, symbol=code, decimal_places=places)
    return Currency.objects.get(is_default=True)


def places_of_the_default() -> tuple[str, int]:
    currency = Currency.objects.get(is_default=True)
    return currency.code, currency.decimal_places


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "places", "charged"),
    [("VND", 2, "100 times its price"), ("XOF", 2, "100 times its price"), ("KWD", 2, "1/10")],
)
def test_a_default_currency_stripe_counts_otherwise_stops_migrate(code, places, charged):
    """Sold at 2 places already: the check names it and `migrate` stops, so the service does
    not start and charge the next customer a hundred times the price."""
    currency = default_as(code, places)
    bundle = TokenBundleFactory(currency=currency, price=Decimal("50000.00"))
    invoice = checkout(UserFactory(), bundles=[bundle]).invoice

    with pytest.raises(SystemCheckError) as refused:
        call_command("migrate", verbosity=0, skip_checks=False)

    assert "billing.E001" in str(refused.value)
    assert f"every charge is {charged}" in str(refused.value)
    assert places_of_the_default() == (code, places)
    assert Invoice.objects.get(pk=invoice.pk).total == Decimal("50000.00")


@pytest.mark.django_db
@pytest.mark.parametrize(("code", "places"), [("USD", 2), ("JPY", 0), ("VND", 0), ("NZD", 2)])
def test_a_default_currency_at_stripes_places_passes(code, places):
    default_as(code, places)

    assert currency_errors() == []


def at_0006_with_vnd(migrator):
    old = migrator.apply_initial_migration(BEFORE)
    Currency = old.apps.get_model("catalog", "Currency")
    Currency.objects.filter(is_default=True).update(code="VND", symbol="₫", decimal_places=2)
    return old, Currency.objects.get(is_default=True)


def test_a_default_currency_nothing_was_sold_in_gets_stripes_places(migrator):
    """Every price is whole and no invoice was made: 50000.00 VND becomes 50000 VND, the sum
    the customer was shown, and Stripe is asked for 50000."""
    old, currency = at_0006_with_vnd(migrator)
    Bundle = old.apps.get_model("catalog", "TokenBundle")
    bundle = Bundle.objects.create(
        name="Big", price=Decimal("50000.00"), currency=currency, token_amount=1000
    )
    assert currency_errors() == []

    new = migrator.apply_tested_migration(CORRECTION)

    after = new.apps.get_model("catalog", "Currency").objects.get(pk=currency.pk)
    price = new.apps.get_model("catalog", "TokenBundle").objects.get(pk=bundle.pk).price
    assert (after.code, after.decimal_places, price) == ("VND", 0, Decimal("50000.00"))
    assert currency_errors() == []


def test_a_default_currency_with_invoices_is_left_and_named(migrator):
    """An invoice was charged at 2 places: its Stripe payment (and any open Checkout Session)
    is in hundredths, so the places are left for staff to settle, and the check says so."""
    old, currency = at_0006_with_vnd(migrator)
    user = old.apps.get_model("accounts", "User").objects.create(email="a@example.com")
    old.apps.get_model("billing", "Invoice").objects.create(
        number="INV-2026-000001",
        user=user,
        currency=currency,
        subtotal=Decimal("50000.00"),
        total=Decimal("50000.00"),
    )

    new = migrator.apply_tested_migration(CORRECTION)

    after = new.apps.get_model("catalog", "Currency").objects.get(pk=currency.pk)
    assert after.decimal_places == 2
    [error] = currency_errors()
    assert error.id == "billing.E001"
    assert "invoices were made at 2 places" in error.hint


def test_a_default_currency_with_a_price_in_hundredths_is_left_and_named(migrator):
    """500.50 VND cannot be a price at 0 places: correcting would change what it charges."""
    old, currency = at_0006_with_vnd(migrator)
    old.apps.get_model("catalog", "TokenBundle").objects.create(
        name="Odd", price=Decimal("500.50"), currency=currency, token_amount=10
    )
    assert len(currency_errors()) == 1

    new = migrator.apply_tested_migration(CORRECTION)

    after = new.apps.get_model("catalog", "Currency").objects.get(pk=currency.pk)
    assert after.decimal_places == 2
    [error] = currency_errors()
    assert "prices with more than 0 places: Odd (500.50)" in error.hint
