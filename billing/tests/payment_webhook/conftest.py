"""Fixtures shared by this package's test modules."""

from decimal import Decimal

import pytest

from billing.tests.helpers import checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory


@pytest.fixture
def invoice(user):
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    return checkout(user, plan=PlanFactory(price=Decimal("29.00")), bundles=[bundle]).invoice
