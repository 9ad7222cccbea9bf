"""The database itself refuses what the services would: checked with validation bypassed."""

from decimal import Decimal
from importlib import import_module

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from catalog.models import AddOn, Currency, Plan, TokenBundle
from catalog.tests.factories import DefaultCurrencyFactory

DEFAULT_CURRENCY_MIGRATION = import_module("catalog.migrations.0002_default_currency")

pytestmark = pytest.mark.django_db


@pytest.fixture
def usd():
    return DefaultCurrencyFactory()


@pytest.mark.parametrize("model", [TokenBundle, AddOn, Plan])
@pytest.mark.parametrize("price", [Decimal("0"), Decimal("-5.00")])
def test_price_must_be_positive(usd, model, price):
    extra = {"token_amount": 1} if model is TokenBundle else {"billing_period": "monthly"}

    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(name="x", price=price, currency=usd, **extra)


@pytest.mark.parametrize("tokens", [0, -1])
def test_token_amount_must_be_positive(usd, tokens):
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenBundle.objects.create(name="x", price=Decimal("1"), currency=usd, token_amount=tokens)


def test_only_one_default_currency(usd):
    with pytest.raises(IntegrityError), transaction.atomic():
        Currency.objects.create(code="EUR", symbol="€", is_default=True)


def test_currency_codes_are_three_capitals():
    with pytest.raises(IntegrityError), transaction.atomic():
        Currency.objects.create(code="eu", symbol="€")


@pytest.mark.parametrize(
    ("model", "period"), [(Plan, "one_time"), (Plan, "daily"), (AddOn, "daily")]
)
def test_billing_period_must_be_known(usd, model, period):
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(name="x", price=Decimal("1"), currency=usd, billing_period=period)


def test_a_currency_in_use_cannot_be_deleted(usd):
    TokenBundle.objects.create(name="x", price=Decimal("1"), currency=usd, token_amount=1)

    with pytest.raises(ProtectedError):
        usd.delete()


def test_the_migration_created_the_default_currency():
    currency = Currency.objects.get(is_default=True)

    assert (currency.code, currency.symbol, currency.decimal_places) == ("USD", "$", 2)


@pytest.mark.parametrize(("code", "places"), [("VND", 0), ("XOF", 0), ("NZD", 2)])
def test_the_default_currency_gets_the_places_stripe_counts_in(settings, code, places):
    """Stripe takes VND in whole units: created with 2 places, a price of 50000 VND went to
    Stripe as 5000000, a hundred times over."""
    from django.apps import apps

    Currency.objects.filter(is_default=True).update(is_default=False)
    settings.DEFAULT_CURRENCY = code

    DEFAULT_CURRENCY_MIGRATION.create_default_currency(apps, None)

    currency = Currency.objects.get(is_default=True)
    assert (currency.code, currency.decimal_places) == (code, places)


@pytest.mark.sqlite
@pytest.mark.parametrize("model", [TokenBundle, AddOn, Plan])
def test_a_description_holds_at_most_5000_characters(usd, model):
    """What the staff API takes, so an item read from it can be written back as it is."""
    extra = {"token_amount": 1} if model is TokenBundle else {"billing_period": "monthly"}
    model.objects.create(
        name="x", price=Decimal("1"), currency=usd, description="é" * 5000, **extra
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(
            name="y", price=Decimal("1"), currency=usd, description="é" * 5001, **extra
        )
