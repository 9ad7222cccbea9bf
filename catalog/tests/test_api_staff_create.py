"""The staff catalog API, for each of token bundles, add-ons and plans."""

from decimal import Decimal
from uuid import uuid4

import pytest

from catalog.models import Currency
from catalog.tests.api_staff_helpers import COMMON_BAD_INPUT, KINDS, make, url, valid_body
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_create_returns_201_and_the_object(staff_client, kind):
    response = staff_client.post(url(kind), valid_body(kind, description="Nice", sort_order=3))

    assert response.status_code == 201
    body = response.json()
    item = KINDS[kind][0].objects.get(pk=body["id"])
    assert body["name"] == "New item"
    assert body["price"] == "12.50"
    assert body["version"] == 1
    assert body["sort_order"] == 3
    assert item.price == Decimal("12.50")
    assert item.currency.is_default


def test_create_ignores_unknown_and_read_only_fields(staff_client, kind):
    forced_id = str(uuid4())

    response = staff_client.post(
        url(kind),
        valid_body(kind, id=forced_id, version=99, created_at="2000-01-01T00:00:00Z", colour="red"),
    )

    assert response.status_code == 201
    assert response.json()["id"] != forced_id
    assert response.json()["version"] == 1
    assert not response.json()["created_at"].startswith("2000")


@pytest.mark.parametrize("price", [5, "5", 5.0, "5.0", "5.00"])
def test_prices_accept_integers_decimals_and_strings(staff_client, kind, price):
    response = staff_client.post(url(kind), valid_body(kind, price=price))

    assert response.status_code == 201
    assert response.json()["price"] == "5.00"


BUNDLE_BAD_INPUT = [
    ({"token_amount": 5.7}, "token_amount"),
    ({"token_amount": 5.0}, "token_amount"),
    ({"token_amount": "5"}, "token_amount"),
    ({"token_amount": "1e10"}, "token_amount"),
    ({"token_amount": 0}, "token_amount"),
    ({"token_amount": -1}, "token_amount"),
    ({"token_amount": 2_147_483_648}, "token_amount"),
    ({"token_amount": True}, "token_amount"),
    ({"token_amount": None}, "token_amount"),
]


PERIOD_BAD_INPUT = [({"billing_period": "weekly"}, "billing_period")]


@pytest.mark.parametrize(("overrides", "field"), COMMON_BAD_INPUT)
def test_create_refuses_bad_input_naming_the_field(staff_client, kind, overrides, field):
    before = database_state()

    response = staff_client.post(url(kind), valid_body(kind, **overrides))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in body["fields"]
    assert field in body["error"]
    assert database_state() == before


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("price", ["1e100", "999999999999999999999999999999", 1e100])
def test_an_out_of_range_price_on_change_is_400_naming_it(staff_client, kind, method, price):
    item = make(kind)
    before = database_state()

    response = getattr(staff_client, method)(url(kind, item), {"price": price})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["price"]
    assert database_state() == before


@pytest.mark.parametrize(("overrides", "field"), BUNDLE_BAD_INPUT)
def test_create_bundle_refuses_bad_token_amounts(staff_client, overrides, field):
    before = database_state()

    response = staff_client.post(url("token-bundles"), valid_body("token-bundles", **overrides))

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert database_state() == before


@pytest.mark.parametrize("kind_name", ["add-ons", "plans"])
@pytest.mark.parametrize(("overrides", "field"), PERIOD_BAD_INPUT)
def test_create_refuses_unknown_billing_periods(staff_client, kind_name, overrides, field):
    before = database_state()

    response = staff_client.post(url(kind_name), valid_body(kind_name, **overrides))

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert database_state() == before


def test_a_plan_cannot_be_one_time(staff_client):
    response = staff_client.post(url("plans"), valid_body("plans", billing_period="one_time"))

    assert response.status_code == 400
    assert "billing_period" in response.json()["fields"]


@pytest.mark.parametrize("missing", ["name", "price"])
def test_create_requires_name_and_price(staff_client, kind, missing):
    body = valid_body(kind)
    del body[missing]

    response = staff_client.post(url(kind), body)

    assert response.status_code == 400
    assert missing in response.json()["fields"]


def test_create_requires_kind_specific_fields(staff_client, kind):
    body = {"name": "Missing", "price": "1.00"}
    before = database_state()

    response = staff_client.post(url(kind), body)

    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(KINDS[kind][2])
    assert database_state() == before


def test_create_refuses_another_currency(staff_client, kind):
    euro = Currency.objects.create(code="EUR", symbol="€")
    before = database_state()

    response = staff_client.post(url(kind), valid_body(kind, currency_id=str(euro.id)))

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "currency_id": ["Only the default currency (USD) is accepted."]
    }
    assert database_state() == before


def test_another_currency_is_named_with_the_other_refused_fields(staff_client, kind):
    """Staff correct every field at once: the currency is not held back until the rest pass."""
    euro, item = Currency.objects.create(code="EUR", symbol="€"), make(kind)
    before = database_state()

    created = staff_client.post(
        url(kind), valid_body(kind, name=" ", currency_id=str(euro.id)), format="json"
    )
    changed = staff_client.patch(
        url(kind, item), {"price": "0", "currency_id": str(euro.id)}, format="json"
    )

    assert (created.status_code, created.json()) == (
        400,
        {
            "error": "Invalid input in: name, currency_id.",
            "code": "validation_error",
            "fields": {
                "name": ["This field may not be blank."],
                "currency_id": ["Only the default currency (USD) is accepted."],
            },
        },
    )
    assert (changed.status_code, changed.json()["fields"]) == (
        400,
        {
            "price": ["Must be greater than 0 and less than 100000000."],
            "currency_id": ["Only the default currency (USD) is accepted."],
        },
    )
    assert database_state() == before


def test_create_accepts_the_default_currency_explicitly(staff_client, kind):
    default = Currency.objects.get(is_default=True)

    response = staff_client.post(url(kind), valid_body(kind, currency_id=str(default.id)))

    assert response.status_code == 201


def test_prices_respect_the_currency_places(staff_client, kind):
    Currency.objects.filter(is_default=True).update(decimal_places=0)
    before = database_state()

    refused = staff_client.post(url(kind), valid_body(kind, price="12.50"))
    accepted = staff_client.post(url(kind), valid_body(kind, price="12.00"))

    assert refused.status_code == 400
    assert refused.json()["fields"] == {"price": ["USD prices have at most 0 decimal places."]}
    assert accepted.status_code == 201
    assert accepted.json()["price"] == "12"
    assert (
        len(database_state()[KINDS[kind][0]._meta.label])
        == len(before[KINDS[kind][0]._meta.label]) + 1
    )
