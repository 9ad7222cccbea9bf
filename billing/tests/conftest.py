"""Fixtures several of billing's test modules share."""

from decimal import Decimal

import pytest

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory


@pytest.fixture
def order(user):
    return checkout(
        user,
        plan=PlanFactory(price=Decimal("29.00")),
        bundles=[TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))],
        add_ons=[AddOnFactory(price=Decimal("9.00"))],
    )


@pytest.fixture
def session(user_client, order, fake_stripe):
    """The order's Checkout Session, as the pay endpoint created it."""
    paid = user_client.post(f"/api/v1/user/invoices/{order.invoice.pk}/pay", {"provider": "stripe"})
    return paid.json()["session_id"]


@pytest.fixture
def paid(user):
    """A paid order: a plan, an add-on, and bundles of 1000 and 50 tokens."""
    result = checkout(
        user,
        plan=PlanFactory(),
        bundles=[
            TokenBundleFactory(token_amount=1000, price=Decimal("5.00")),
            TokenBundleFactory(token_amount=50, price=Decimal("45.00")),
        ],
        add_ons=[AddOnFactory()],
    )
    capture(result.invoice)
    return result


@pytest.fixture
def bundle():
    return TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
