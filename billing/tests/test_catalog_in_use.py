"""Catalog items that were bought cannot be deleted: the API answers 409 in_use."""

import pytest

from billing import services
from billing.tests.helpers import checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "factory", "cart"),
    [
        ("token-bundles", TokenBundleFactory, "bundles"),
        ("plans", PlanFactory, "plan"),
        ("add-ons", AddOnFactory, "add_ons"),
    ],
)
def test_deleting_a_bought_item_is_409_in_use(staff_client, user, kind, factory, cart):
    item = factory()
    plan = item if cart == "plan" else PlanFactory()
    checkout(
        user,
        plan=plan,
        bundles=[item] if cart == "bundles" else [],
        add_ons=[item] if cart == "add_ons" else [],
    )
    before = database_state()

    response = staff_client.delete(f"/api/v1/admin/{kind}/{item.pk}")

    assert response.status_code == 409
    assert response.json() == {
        "error": "This item has been bought, so it cannot be deleted; deactivate it instead.",
        "code": "in_use",
    }
    assert database_state() == before
    assert staff_client.post(f"/api/v1/admin/{kind}/{item.pk}/toggle-active").status_code == 200


def test_even_a_cancelled_purchase_keeps_the_bundle(staff_client, user):
    bundle = TokenBundleFactory()
    result = checkout(user, bundles=[bundle])
    services.invoice_cancel(invoice_id=result.invoice.pk)

    assert staff_client.delete(f"/api/v1/admin/token-bundles/{bundle.pk}").status_code == 409
