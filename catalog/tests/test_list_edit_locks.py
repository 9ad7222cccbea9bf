"""Two staff members at the catalog's list at once, on PostgreSQL with real threads, each
with its own connection: one saves the list's edits of two bundles, the other deactivates
both with the list's action, which locks them in id order."""

from __future__ import annotations

import threading

import pytest
from django.contrib import admin
from django.db import connections

from catalog import services
from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory
from catalog.tests.test_admin import admin_url
from common.tests.waits import sessions_waiting_on_a_lock, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_saving_the_lists_edits_as_the_same_bundles_are_deactivated_is_no_deadlock(
    staff_browser, monkeypatch
):
    """The list's edits locked each bundle as it saved it, in the list's order (the higher
    id first here), while the deactivation locked them in id order: each held one the other
    waited for, and PostgreSQL rolled one of them back."""
    lower, higher = sorted(TokenBundleFactory.create_batch(2), key=lambda bundle: bundle.pk)
    TokenBundle.objects.filter(pk=higher.pk).update(sort_order=1)
    TokenBundle.objects.filter(pk=lower.pk).update(sort_order=2)
    model_admin = admin.site._registry[TokenBundle]
    save_form = model_admin.save_form
    saved, answers = [], {}

    def deactivate_both() -> None:
        try:
            answers["deactivated"] = services.catalog_items_set_active(
                queryset=TokenBundle.objects.all(), active=False
            )
        except Exception as error:  # the test reports what it raised
            answers["deactivated"] = error
        finally:
            connections.close_all()

    deactivating = threading.Thread(target=deactivate_both)

    def deactivated_between_the_saves(request, form, change):
        if saved:
            # The first bundle is saved: the other staff member deactivates both now.
            deactivating.start()
            wait_until(lambda: "deactivated" in answers or sessions_waiting_on_a_lock() > 0)
        saved.append(form.instance.pk)
        return save_form(request, form, change)

    monkeypatch.setattr(model_admin, "save_form", deactivated_between_the_saves)
    edits = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "form-0-id": str(higher.pk),
        "form-0-is_active": "on",
        "form-0-sort_order": "10",
        "form-1-id": str(lower.pk),
        "form-1-is_active": "on",
        "form-1-sort_order": "20",
        "_save": "Save",
    }

    def save_the_list() -> None:
        try:
            answers["list"] = staff_browser.post(admin_url(TokenBundle, "changelist"), edits)
        except Exception as error:  # the test reports what it raised
            answers["list"] = error
        finally:
            connections.close_all()

    listing = threading.Thread(target=save_the_list)
    listing.start()
    listing.join()
    deactivating.join()

    assert saved == [higher.pk, lower.pk]
    assert getattr(answers["list"], "status_code", answers["list"]) == 302
    assert answers["deactivated"] == 2
    bundles = TokenBundle.objects.order_by("sort_order")
    assert list(bundles.values_list("sort_order", "is_active")) == [
        (10, False),
        (20, False),
    ]
