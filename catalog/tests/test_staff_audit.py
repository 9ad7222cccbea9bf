"""Who added, repriced, took off sale, put on sale or deleted a bundle, add-on or plan,
through the staff API or the admin's list actions: the item's History names them. Before,
only the admin's change, add and delete pages wrote it, so "who changed this price?" had no
answer for the API or the list's (de)activation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.urls import reverse

from billing.tests.helpers import checkout
from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory
from common.tests.audit import history, records
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

BUNDLES = "/api/v1/admin/token-bundles"
CHANGELIST = "admin:catalog_tokenbundle_changelist"


@pytest.fixture
def bundle() -> TokenBundle:
    return TokenBundleFactory(name="Starter", price=Decimal("9.00"), is_active=True)


def flags(item_id) -> list[tuple[int, int]]:
    """Each record about the item, deleted or not: who and as what (add, change, delete)."""
    entries = LogEntry.objects.filter(object_id=str(item_id)).order_by("action_time", "pk")
    return list(entries.values_list("user_id", "action_flag"))


def act(client, action: str, *items: TokenBundle, **data):
    selected = [str(item.pk) for item in items]
    body = {"action": action, "_selected_action": selected, **data}
    return client.post(reverse(CHANGELIST), body)


def test_the_staff_api_names_the_staff_member(staff_client, staff_user):
    created = staff_client.post(
        BUNDLES, {"name": "Starter", "price": "9.00", "token_amount": 100}, format="json"
    )
    bundle = TokenBundle.objects.get(pk=created.data["id"])
    url = f"{BUNDLES}/{bundle.pk}"
    staff_client.patch(url, {"price": "12.50", "sort_order": 3}, format="json")
    staff_client.patch(url, {"price": "12.50"}, format="json")  # no change
    staff_client.patch(url, {}, format="json")
    staff_client.post(f"{url}/toggle-active")
    staff_client.post(f"{url}/toggle-active")

    assert history(bundle) == [
        (staff_user.email, "Added."),
        (staff_user.email, "Changed price from 9.00 to 12.50; sort_order from 0 to 3."),
        (staff_user.email, "Deactivated."),
        (staff_user.email, "Activated."),
    ]


def test_deleting_through_the_api_names_the_staff_member(staff_client, staff_user, bundle):
    response = staff_client.delete(f"{BUNDLES}/{bundle.pk}")

    assert response.status_code == 204
    assert not TokenBundle.objects.filter(pk=bundle.pk).exists()
    assert flags(bundle.pk) == [(staff_user.pk, DELETION)]


def test_refused_api_changes_record_nothing(staff_client, user, bundle):
    checkout(user, bundles=[bundle])
    before, logged = database_state(), records()

    stale = staff_client.patch(
        f"{BUNDLES}/{bundle.pk}", {"price": "1.00", "version": bundle.version + 1}, format="json"
    )
    bought = staff_client.delete(f"{BUNDLES}/{bundle.pk}")
    empty = staff_client.patch(f"{BUNDLES}/{bundle.pk}", {}, format="json")

    assert (stale.status_code, bought.status_code, empty.status_code) == (409, 409, 200)
    assert database_state() == before
    assert records() == logged


def test_the_admins_list_actions_name_the_staff_member(staff_browser, staff_user, bundle):
    spare = TokenBundleFactory(name="Spare", is_active=False)

    act(staff_browser, "deactivate", bundle, spare)  # the spare is off already
    act(staff_browser, "activate", bundle, spare)

    assert history(bundle) == [(staff_user.email, "Deactivated."), (staff_user.email, "Activated.")]
    assert history(spare) == [(staff_user.email, "Activated.")]


def test_deactivating_from_the_in_use_page_names_the_staff_member(
    staff_browser, staff_user, user, bundle
):
    checkout(user, bundles=[bundle])
    delete = reverse("admin:catalog_tokenbundle_delete", args=[bundle.pk])

    staff_browser.post(delete, {"deactivate": "1"})

    assert not TokenBundle.objects.get(pk=bundle.pk).is_active
    assert history(bundle) == [(staff_user.email, "Deactivated.")]


def test_deleting_unbought_items_in_the_admin_is_recorded_once(staff_browser, staff_user, bundle):
    act(staff_browser, "delete_unbought", bundle, post="yes")

    assert not TokenBundle.objects.filter(pk=bundle.pk).exists()
    assert flags(bundle.pk) == [(staff_user.pk, DELETION)]


def test_a_refused_delete_in_the_admin_records_nothing(staff_browser, user, bundle):
    checkout(user, bundles=[bundle])
    before, logged = database_state(), records()

    act(staff_browser, "delete_unbought", bundle, post="yes")
    staff_browser.post(
        reverse("admin:catalog_tokenbundle_delete", args=[bundle.pk]), {"post": "yes"}
    )

    assert database_state() == before
    assert records() == logged


def test_the_admins_pages_keep_djangos_own_record_and_no_other(staff_browser, staff_user, bundle):
    """Django records its add, change and delete pages itself; the services they call get
    no actor, so nothing is recorded twice."""
    change = reverse("admin:catalog_tokenbundle_change", args=[bundle.pk])
    form = {
        "read_version": bundle.version,
        "name": bundle.name,
        "description": "",
        "token_amount": bundle.token_amount,
        "price": "11.00",
        "currency": bundle.currency_id,
        "is_active": "on",
        "sort_order": bundle.sort_order,
    }

    saved = staff_browser.post(change, form)
    staff_browser.post(
        reverse("admin:catalog_tokenbundle_delete", args=[bundle.pk]), {"post": "yes"}
    )

    assert saved.status_code == 302
    assert flags(bundle.pk) == [(staff_user.pk, CHANGE), (staff_user.pk, DELETION)]


def test_the_item_history_page_shows_who_added_it(staff_client, staff_browser, staff_user):
    created = staff_client.post(
        BUNDLES, {"name": "Starter", "price": "9.00", "token_amount": 100}, format="json"
    )

    page = staff_browser.get(
        reverse("admin:catalog_tokenbundle_history", args=[created.data["id"]])
    )

    assert page.status_code == 200
    assert staff_user.email in page.content.decode()
    assert flags(created.data["id"]) == [(staff_user.pk, ADDITION)]
