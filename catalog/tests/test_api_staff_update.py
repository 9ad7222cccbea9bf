"""The staff catalog API, for each of token bundles, add-ons and plans."""

from decimal import Decimal

import pytest

from catalog.tests.api_staff_helpers import COMMON_BAD_INPUT, KINDS, make, url
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


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
