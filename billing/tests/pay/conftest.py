"""Fixtures shared by this package's test modules."""

from decimal import Decimal

import pytest

from billing.tests.helpers import checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory


@pytest.fixture
def invoice(user):
    bundle = TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.99"))
    plan = PlanFactory(name="Monthly", price=Decimal("29.00"))
    return checkout(user, plan=plan, bundles=[bundle, bundle]).invoice
