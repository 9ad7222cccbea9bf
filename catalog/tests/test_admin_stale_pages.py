"""A change page saved after someone else changed the item since it was opened: the admin
form carries the version it showed, and a save of an older version writes nothing (as the
staff API's PATCH with `version` answers 409)."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from catalog import services
from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state, form_as_sent

pytestmark = pytest.mark.django_db


def change_url(bundle: TokenBundle) -> str:
    return reverse("admin:catalog_tokenbundle_change", args=[bundle.pk])


def as_the_browser_sends_it(page) -> dict:
    return form_as_sent(page.context["adminform"].form, page.content.decode())


def list_as_the_browser_sends_it(page) -> dict:
    formset = page.context["cl"].formset
    data = form_as_sent(formset.management_form, page.content.decode())
    for form in formset.forms:
        data.update(form_as_sent(form, page.content.decode()))
    return {**data, "_save": "Save"}


def test_a_page_opened_before_a_price_change_does_not_put_the_old_price_back(staff_browser):
    """Staff open the bundle at 5.00; the staff API raises it to 7.00; staff, still on the
    page, change only the sort order and save. The page sent 5.00 as it showed it, and the
    admin compares with the item as it is when the save arrives: the price looked changed
    and went back to 5.00 for everyone buying."""
    bundle = TokenBundleFactory(name="Pack", price=Decimal("5.00"), sort_order=0)
    page = staff_browser.get(change_url(bundle))
    services.catalog_item_update(
        model=TokenBundle, item_id=bundle.pk, data={"price": Decimal("7.00")}
    )
    state = database_state()

    response = staff_browser.post(
        change_url(bundle), {**as_the_browser_sends_it(page), "sort_order": "3"}
    )

    bundle.refresh_from_db()
    assert (bundle.price, bundle.sort_order, bundle.version) == (Decimal("7.00"), 0, 2)
    assert database_state() == state
    assert (response.status_code, response["Location"]) == (302, change_url(bundle))
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Nothing was saved: “Pack” was changed by someone else since you opened the page (it "
        "is at version 2 now, the page showed version 1). The page shows it as it is now; "
        "make your change again."
    ]


def test_a_page_opened_at_the_current_version_saves_what_it_changed(staff_browser):
    bundle = TokenBundleFactory(price=Decimal("5.00"), sort_order=0)
    page = staff_browser.get(change_url(bundle))

    response = staff_browser.post(
        change_url(bundle), {**as_the_browser_sends_it(page), "price": "6.00"}
    )

    assert response.status_code == 302
    bundle.refresh_from_db()
    assert (bundle.price, bundle.version) == (Decimal("6.00"), 2)


def test_a_list_opened_before_an_item_was_taken_off_sale_does_not_put_it_back(staff_browser):
    """Staff open the bundles' list; the staff API takes one off sale (a wrong price, say);
    staff, still on the list, reorder another and save. The list sent every row as it
    showed it, and the taken-off one was on sale again."""
    withdrawn = TokenBundleFactory(name="Wrong", sort_order=0)
    other = TokenBundleFactory(name="Other", sort_order=1)
    changelist = reverse("admin:catalog_tokenbundle_changelist")
    page = staff_browser.get(changelist)
    services.catalog_item_toggle_active(model=TokenBundle, item_id=withdrawn.pk)
    state = database_state()
    edit = list_as_the_browser_sends_it(page)
    row = next(k for k, v in edit.items() if k.endswith("-id") and v == str(other.pk))

    response = staff_browser.post(changelist, {**edit, row.replace("-id", "-sort_order"): "5"})

    withdrawn.refresh_from_db()
    other.refresh_from_db()
    assert (withdrawn.is_active, other.sort_order) == (False, 1)
    assert database_state() == state
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Nothing was saved: “Wrong” was changed by someone else since you opened the page (it "
        "is at version 2 now, the page showed version 1). The page shows it as it is now; "
        "make your change again."
    ]


def test_a_list_opened_at_the_current_versions_saves_what_it_changed(staff_browser):
    bundle = TokenBundleFactory(sort_order=0)
    changelist = reverse("admin:catalog_tokenbundle_changelist")
    page = staff_browser.get(changelist)

    response = staff_browser.post(
        changelist, {**list_as_the_browser_sends_it(page), "form-0-sort_order": "4"}
    )

    assert response.status_code == 302
    bundle.refresh_from_db()
    assert (bundle.sort_order, bundle.version) == (4, 2)


def test_a_row_of_an_older_list_left_as_it_was_is_neither_saved_nor_logged(staff_browser):
    """Another row edited elsewhere since the list was opened, but shown as it still is
    (its price changed, not its place or sale): nothing of it is sent as a change."""
    repriced = TokenBundleFactory(name="Repriced", sort_order=0)
    other = TokenBundleFactory(name="Other", sort_order=1)
    changelist = reverse("admin:catalog_tokenbundle_changelist")
    page = staff_browser.get(changelist)
    services.catalog_item_update(
        model=TokenBundle, item_id=repriced.pk, data={"price": Decimal("9.00")}
    )
    edit = list_as_the_browser_sends_it(page)
    row = next(k for k, v in edit.items() if k.endswith("-id") and v == str(other.pk))

    response = staff_browser.post(changelist, {**edit, row.replace("-id", "-sort_order"): "5"})

    assert response.status_code == 302
    repriced.refresh_from_db()
    other.refresh_from_db()
    assert (repriced.price, repriced.version, other.sort_order) == (Decimal("9.00"), 2, 5)
    assert [
        (entry.object_repr, entry.get_change_message())
        for entry in LogEntry.objects.order_by("action_time")
    ] == [("Other", "Changed Sort order.")]
