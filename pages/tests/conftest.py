from decimal import Decimal

import pytest

from catalog.tests.factories import TokenBundleFactory


@pytest.fixture
def bundles():
    """The demo's cheapest, a saving one and the best value, in that listing order."""
    return [
        TokenBundleFactory(name="Taster", token_amount=10, price=Decimal("10.00"), sort_order=0),
        TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.00"), sort_order=1),
        TokenBundleFactory(name="Team", token_amount=1000, price=Decimal("5.00"), sort_order=2),
    ]
