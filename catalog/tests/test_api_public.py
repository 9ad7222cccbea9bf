from decimal import Decimal

import pytest

from catalog.models import BillingPeriod
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory

pytestmark = pytest.mark.django_db


def test_bundles_are_listed_active_only_by_sort_order_then_price(api_client):
    second = TokenBundleFactory(name="B", sort_order=1, price=Decimal("1.00"), token_amount=1)
    first_cheap = TokenBundleFactory(name="A1", sort_order=0, price=Decimal("2.00"), token_amount=4)
    first_dear = TokenBundleFactory(name="A2", sort_order=0, price=Decimal("3.00"), token_amount=4)
    TokenBundleFactory(name="hidden", is_active=False)

    response = api_client.get("/api/v1/token-bundles")

    assert response.status_code == 200
    names = [item["name"] for item in response.json()["items"]]
    assert names == [first_cheap.name, first_dear.name, second.name]


def test_a_bundle_has_the_contract_fields(api_client):
    bundle = TokenBundleFactory(name="1000 TKN", token_amount=1000, price=Decimal("5.00"))

    item = api_client.get("/api/v1/token-bundles").json()["items"][0]

    assert item == {
        "id": str(bundle.id),
        "name": "1000 TKN",
        "description": "",
        "token_amount": 1000,
        "expires_after_days": None,
        "price": "5.00",
        "currency": {"id": str(bundle.currency_id), "code": "USD", "symbol": "$"},
        "price_per_token": "0.0050",
        "savings_percent": 0,
        "is_best_value": True,
        "sort_order": 0,
        "is_active": True,
        "created_at": bundle.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": bundle.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "version": 1,
    }


def test_savings_and_best_value_compare_only_active_bundles(api_client):
    TokenBundleFactory(token_amount=10, price=Decimal("10.00"), sort_order=0)
    TokenBundleFactory(token_amount=100, price=Decimal("90.00"), sort_order=1)
    TokenBundleFactory(token_amount=1, price=Decimal("100.00"), is_active=False)

    items = api_client.get("/api/v1/token-bundles").json()["items"]

    assert [(i["savings_percent"], i["is_best_value"]) for i in items] == [(0, False), (10, True)]


def test_the_public_listing_ignores_a_bad_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired-or-garbage")

    assert api_client.get("/api/v1/token-bundles").status_code == 200


def test_listing_200_bundles_afresh_takes_two_queries(api_client, django_assert_max_num_queries):
    """The catalog's version and the bundles; once rendered, the version alone
    (test_listing_cache.py)."""
    TokenBundleFactory.create_batch(200)

    with django_assert_max_num_queries(2):
        response = api_client.get("/api/v1/token-bundles")

    assert len(response.json()["items"]) == 200


def test_add_ons_and_plans_are_listed_active_only(api_client):
    add_on = AddOnFactory(billing_period=BillingPeriod.ONE_TIME, price=Decimal("49"))
    AddOnFactory(is_active=False)
    plan = PlanFactory(billing_period=BillingPeriod.YEARLY)
    PlanFactory(is_active=False)

    add_ons = api_client.get("/api/v1/add-ons").json()["items"]
    plans = api_client.get("/api/v1/plans").json()["items"]

    assert add_ons == [
        {
            "id": str(add_on.id),
            "name": add_on.name,
            "description": "",
            "price": "49.00",
            "currency": {"id": str(add_on.currency_id), "code": "USD", "symbol": "$"},
            "billing_period": "one_time",
            "is_active": True,
            "sort_order": 0,
        }
    ]
    assert [(p["id"], p["billing_period"]) for p in plans] == [(str(plan.id), "yearly")]
