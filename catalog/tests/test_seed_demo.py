from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import User
from catalog.models import AddOn, Plan, TokenBundle
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_seed_demo_loads_the_seed_catalog_and_users(capsys):
    call_command("seed_demo")

    bundles = {(b.token_amount, b.price) for b in TokenBundle.objects.all()}
    assert bundles == {
        (10, Decimal("10.00")),
        (50, Decimal("45.00")),
        (100, Decimal("90.00")),
        (500, Decimal("400.00")),
        (1000, Decimal("5.00")),
        (10000, Decimal("50.00")),
    }
    assert sorted(Plan.objects.values_list("billing_period", "price")) == [
        ("monthly", Decimal("29.00")),
        ("yearly", Decimal("290.00")),
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
