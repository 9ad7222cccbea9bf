"""The staff catalog API, for each of token bundles, add-ons and plans."""

from decimal import Decimal
from uuid import uuid4

import pytest

from catalog.tests.api_staff_helpers import make, url, valid_body
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


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


def test_list_names_every_bad_parameter_at_once_in_the_wording_of_the_other_lists(
    staff_client, kind
):
    """docs/api.md: every refused field is named, so a client fixes them in one go; the
    filters were checked before the page and named alone, in Django forms' wording."""
    make(kind)
    before = database_state()

    response = staff_client.get(url(kind), {"include_inactive": "maybe", "per_page": 0})

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"include_inactive", "per_page"}
    assert fields["include_inactive"] == ['"maybe" is not a valid choice.']
    assert database_state() == before


def test_staff_list_runs_a_fixed_number_of_queries(
    staff_client, kind, django_assert_max_num_queries
):
    for _ in range(60):
        make(kind)

    # The user, the staff member's role (docs/api.md, Staff roles), the count and the page.
    with django_assert_max_num_queries(4):
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
