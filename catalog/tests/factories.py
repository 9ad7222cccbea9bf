from decimal import Decimal

import factory

from catalog.models import AddOn, BillingPeriod, Currency, Plan, TokenBundle


class DefaultCurrencyFactory(factory.django.DjangoModelFactory):
    """The migration's default currency; created again after a transactional test's flush."""

    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = "USD"
    symbol = "$"
    decimal_places = 2
    is_default = True


class TokenBundleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TokenBundle

    name = factory.Sequence(lambda n: f"Bundle {n}")
    token_amount = 1000
    price = Decimal("5.00")
    currency = factory.SubFactory(DefaultCurrencyFactory)


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Plan {n}")
    price = Decimal("29.00")
    billing_period = BillingPeriod.MONTHLY
    currency = factory.SubFactory(DefaultCurrencyFactory)


class AddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AddOn

    name = factory.Sequence(lambda n: f"Add-on {n}")
    price = Decimal("9.00")
    billing_period = BillingPeriod.MONTHLY
    currency = factory.SubFactory(DefaultCurrencyFactory)
