"""Fixtures shared by this package's test modules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.tests.factories import PlanFactory


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def plans():
    return [
        PlanFactory(name="Monthly", price=Decimal("29.00"), included_tokens=40, sort_order=0),
        PlanFactory(name="Yearly", price=Decimal("290.00"), billing_period="yearly", sort_order=1),
    ]


@pytest.fixture
def test_mode(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True
