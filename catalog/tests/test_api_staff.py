"""The staff catalog API, for each of token bundles, add-ons and plans."""

from decimal import Decimal
from uuid import uuid4

import pytest

from catalog.models import AddOn, Currency, Plan, TokenBundle
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

KINDS = {
    "token-bundles": (TokenBundle, TokenBundleFactory, {"token_amount": 1000}),
    "add-ons": (AddOn, AddOnFactory, {"billing_period": "one_time"}),
    "plans": (Plan, PlanFactory, {"billing_period": "yearly"}),
}


@pytest.fixture(params=list(KINDS))
def kind(request):
    return request.param


def url(kind: str, item=None, suffix: str = "") -> str:
    base = f"/api/v1/admin/{kind}"
    return f"{base}/{item.id}{suffix}" if item else base


def valid_body(kind: str, **overrides) -> dict:
    return {"name": "New item", "price": "12.50", **KINDS[kind][2], **overrides}


def make(kind: str, **fields):
    return KINDS[kind][1](**fields)


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


COMMON_BAD_INPUT = [
    ({"name": "   "}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": None}, "name"),
    ({"name": ["list"]}, "name"),
    ({"price": "0"}, "price"),
    ({"price": "-1.00"}, "price"),
    ({"price": "100000000"}, "price"),
    ({"price": "5.001"}, "price"),
    ({"price": 5.001}, "price"),
    ({"price": "1e10"}, "price"),
    ({"price": "NaN"}, "price"),
    ({"price": "Infinity"}, "price"),
    ({"price": "five"}, "price"),
    ({"price": True}, "price"),
    ({"price": None}, "price"),
    # Out of range: once a 500 (DRF quantized them beyond its precision).
    ({"price": "1e100"}, "price"),
    ({"price": 1e100}, "price"),
    ({"price": "999999999999999999999999999999"}, "price"),
    ({"price": 999999999999999999999999999999}, "price"),
    # Only plain digits, as the schema's pattern says.
    ({"price": " 5"}, "price"),
    ({"price": "+5"}, "price"),
    ({"price": ".5"}, "price"),
    ({"price": "5."}, "price"),
    ({"price": "1_000"}, "price"),
    ({"price": "\u0665"}, "price"),
    ({"price": "00000000005"}, "price"),
    ({"sort_order": "3"}, "sort_order"),
    ({"sort_order": 1.5}, "sort_order"),
    ({"is_active": "maybe"}, "is_active"),
    ({"is_active": "yes"}, "is_active"),
    ({"is_active": 1}, "is_active"),
    ({"currency_id": "not-a-uuid"}, "currency_id"),
    ({"currency_id": "0" * 32}, "currency_id"),
    ({"currency_id": 5}, "currency_id"),
    ({"name": 5}, "name"),
    ({"name": "\x85" + "x" * 256}, "name"),  # 256 after trimming
    ({"name": "nul\x00"}, "name"),
    ({"description": 5.5}, "description"),
]
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


def test_get_one_item_active_or_not(staff_client, kind):
    item = make(kind, is_active=False)

    response = staff_client.get(url(kind, item))

    assert response.status_code == 200
    assert response.json()["id"] == str(item.id)
    assert response.json()["is_active"] is False


MEMBER_ROUTES = [
    ("get", ""),
    ("put", ""),
    ("patch", ""),
    ("delete", ""),
    ("post", "/toggle-active"),
]


@pytest.mark.parametrize(("method", "suffix"), MEMBER_ROUTES)
@pytest.mark.parametrize("item_id", [uuid4(), "not-a-uuid", "123", "%20"])
def test_unknown_and_malformed_ids_are_404(staff_client, kind, method, suffix, item_id):
    before = database_state()

    response = getattr(staff_client, method)(f"/api/v1/admin/{kind}/{item_id}{suffix}", {})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert database_state() == before


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_is_partial_and_adds_one_to_version(staff_client, kind, method):
    item = make(kind, name="Old", price=Decimal("3.00"))

    response = getattr(staff_client, method)(url(kind, item), {"name": "  Renamed  "})

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["price"] == "3.00"
    assert response.json()["version"] == 2
    item.refresh_from_db()
    assert (item.name, item.version) == ("Renamed", 2)


def test_update_with_the_current_version_succeeds(staff_client, kind):
    item = make(kind)

    response = staff_client.patch(url(kind, item), {"price": "7.00", "version": 1})

    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_update_with_a_stale_version_is_409_and_changes_nothing(staff_client, kind):
    item = make(kind)
    staff_client.patch(url(kind, item), {"name": "First edit"})
    before = database_state()

    response = staff_client.put(url(kind, item), {"name": "Second edit", "version": 1})

    assert response.status_code == 409
    assert response.json()["code"] == "version_conflict"
    assert database_state() == before


@pytest.mark.parametrize("version", [0, -1, 2**70])
def test_update_with_a_version_no_item_has_is_409_and_changes_nothing(staff_client, kind, version):
    """Contract: "If the body carries `version` and it is not the current one: 409
    `version_conflict`." Versions start at 1; a 0 was a 400 validation_error."""
    item = make(kind)
    before = database_state()

    response = staff_client.patch(url(kind, item), {"name": "Edit", "version": version})

    assert (response.status_code, response.json()["code"]) == (409, "version_conflict")
    assert database_state() == before


@pytest.mark.parametrize(("overrides", "field"), COMMON_BAD_INPUT)
def test_update_refuses_bad_input_and_changes_nothing(staff_client, kind, overrides, field):
    item = make(kind)
    before = database_state()

    response = staff_client.patch(url(kind, item), overrides)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert database_state() == before


def test_update_is_active_false_as_a_string_means_false(staff_client, kind):
    item = make(kind)

    response = staff_client.patch(url(kind, item), {"is_active": "false"})

    assert response.status_code == 200
    assert response.json()["is_active"] is False


def test_toggle_active_flips_and_counts_a_version(staff_client, kind):
    item = make(kind)

    first = staff_client.post(url(kind, item, "/toggle-active"))
    second = staff_client.post(url(kind, item, "/toggle-active"))

    assert (first.json()["is_active"], first.json()["version"]) == (False, 2)
    assert (second.json()["is_active"], second.json()["version"]) == (True, 3)


def test_delete_of_an_item_never_bought_is_204(staff_client, kind):
    item = make(kind)

    response = staff_client.delete(url(kind, item))

    assert response.status_code == 204
    assert not KINDS[kind][0].objects.filter(pk=item.pk).exists()


def test_list_is_a_page_of_active_items_by_default(staff_client, kind):
    make(kind, name="on", sort_order=1)
    make(kind, name="off", is_active=False)

    response = staff_client.get(url(kind))

    assert response.status_code == 200
    body = response.json()
    assert [item["name"] for item in body["items"]] == ["on"]
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (1, 1, 20, 1)


def test_list_include_inactive_search_and_ordering(staff_client, kind):
    make(kind, name="Alpha", price=Decimal("3.00"))
    make(kind, name="Beta", price=Decimal("1.00"), is_active=False)
    make(kind, name="alphabet", price=Decimal("2.00"))

    everything = staff_client.get(url(kind), {"include_inactive": "true", "ordering": "-price"})
    searched = staff_client.get(url(kind), {"search": "ALPHA", "ordering": "name"})

    assert [i["name"] for i in everything.json()["items"]] == ["Alpha", "alphabet", "Beta"]
    assert [i["name"] for i in searched.json()["items"]] == ["Alpha", "alphabet"]


def test_list_pages(staff_client, kind):
    for index in range(5):
        make(kind, sort_order=index)

    response = staff_client.get(url(kind), {"page": 2, "per_page": 2, "ordering": "sort_order"})

    body = response.json()
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (5, 2, 2, 3)
    assert [item["sort_order"] for item in body["items"]] == [2, 3]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "x"}, "page"),
        ({"page": 3}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": "1.5"}, "per_page"),
        ({"ordering": "password"}, "ordering"),
        ({"include_inactive": "perhaps"}, "include_inactive"),
        # Checked like a body: empty is a value, twice is refused, one field per ordering.
        ({"include_inactive": ""}, "include_inactive"),
        ({"ordering": ""}, "ordering"),
        ({"page": ""}, "page"),
        ({"per_page": ""}, "per_page"),
        ({"page": "\u00b2"}, "page"),
        ({"per_page": "\u0665"}, "per_page"),
        ({"ordering": "name,price"}, "ordering"),
        ({"ordering": ["name", "price"]}, "ordering"),
        ({"include_inactive": ["true", "true"]}, "include_inactive"),
        ({"page": ["1", "1"]}, "page"),
        ({"search": "x" * 256}, "search"),
        ({"page": str(2**31)}, "page"),
    ],
)
def test_list_refuses_bad_parameters(staff_client, kind, params, field):
    make(kind)

    response = staff_client.get(url(kind), params)

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_staff_list_runs_a_fixed_number_of_queries(
    staff_client, kind, django_assert_max_num_queries
):
    for _ in range(60):
        make(kind)

    with django_assert_max_num_queries(3):
        response = staff_client.get(url(kind), {"per_page": 100})

    assert len(response.json()["items"]) == 60


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("post", ""),
        ("get", "/ID"),
        ("patch", "/ID"),
        ("put", "/ID"),
        ("delete", "/ID"),
        ("post", "/ID/toggle-active"),
    ],
)
def test_anonymous_is_401_and_non_staff_is_403_and_nothing_changes(
    api_client, user_client, kind, method, suffix
):
    item = make(kind)
    path = url(kind) + suffix.replace("/ID", f"/{item.id}")
    before = database_state()

    anonymous = getattr(api_client, method)(path, valid_body(kind))
    not_staff = getattr(user_client, method)(path, valid_body(kind))

    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert not_staff.status_code == 403
    assert not_staff.json()["code"] == "permission_denied"
    assert database_state() == before
