from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import User
from catalog.models import AddOn, Plan, TokenBundle
from catalog.selectors import bundles_for_sale
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_seed_demo_loads_the_seed_catalog_and_users(capsys):
    call_command("seed_demo")

    bundles = [(b.token_amount, b.price, b.offer.is_best_value) for b in bundles_for_sale()]
    assert bundles == [
        (10, Decimal("10.00"), False),
        (50, Decimal("45.00"), False),
        (100, Decimal("90.00"), False),
        (500, Decimal("400.00"), True),
    ]
    assert [b.offer.savings_percent for b in bundles_for_sale()] == [0, 10, 10, 20]
    assert sorted(Plan.objects.values_list("billing_period", "price", "included_tokens")) == [
        ("monthly", Decimal("29.00"), 40),
        ("yearly", Decimal("290.00"), 480),
    ]
    assert AddOn.objects.count() == 2
    assert User.objects.get(email="staff@example.com").is_staff
    assert User.objects.get(email="demo@example.com").check_password("tokens-demo-2026")
    assert "demo@example.com / tokens-demo-2026" in capsys.readouterr().out


def test_seed_demo_twice_gives_the_same_rows():
    call_command("seed_demo")
    first = database_state()

    call_command("seed_demo")

    assert database_state() == first


def test_seed_demo_takes_the_bundles_of_earlier_seeds_off_sale():
    TokenBundleFactory(name="Team", token_amount=1000, price=Decimal("5.00"))

    call_command("seed_demo")

    assert not TokenBundle.objects.get(name="Team").is_active
    assert [b.name for b in bundles_for_sale()] == ["Taster", "Starter", "Standard", "Pro"]
