"""Fixtures shared by this package's test modules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory


@pytest.fixture
def payments_on(settings):
    settings.PAYMENTS_TEST_MODE = True
    settings.STRIPE_SECRET_KEY = ""


@pytest.fixture
def invoice(user):
    bundle = TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.99"))
    return checkout(user, bundles=[bundle]).invoice


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client
