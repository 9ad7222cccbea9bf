"""Staff writes to the catalog at the same time, on PostgreSQL with real threads, each with its
own connection: the catalog's version must not make them wait on each other."""

import threading

import pytest
from django.db import connections, transaction

from catalog import services
from catalog.models import TokenBundle
from catalog.selectors import catalog_version
from catalog.tests.factories import TokenBundleFactory
from common.tests.concurrency import meeting
from common.tests.waits import sessions_waiting_on_a_lock, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_staff_writes_taking_the_same_bundles_in_opposite_orders_both_commit():
    """An admin list edit saves X then Y in one transaction while the API renames Y. With the
    version raised per row, the edit held the version's row from X on, the rename held Y and
    waited for the version, and the edit's save of Y closed the circle: PostgreSQL aborted
    one of them as a deadlock."""
    x = TokenBundleFactory(name="X", sort_order=1)
    y = TokenBundleFactory(name="Y", sort_order=2)
    before = catalog_version()
    x_saved, rename_stuck_or_done, rename_done = (threading.Event() for _ in range(3))
    errors: dict[str, Exception] = {}

    def list_edit() -> None:
        try:
            with transaction.atomic():
                for bundle, order in ((x, 10), (y, 20)):
                    item = TokenBundle.objects.get(pk=bundle.pk)
                    item.sort_order = order
                    services.catalog_item_save(item=item, changed_fields=["sort_order"])
                    x_saved.set()
                    rename_stuck_or_done.wait(10)
        except Exception as error:  # the test reports whatever either side raised
            errors["list edit"] = error
        finally:
            connections.close_all()

    def rename() -> None:
        x_saved.wait(10)
        try:
            services.catalog_item_update(model=TokenBundle, item_id=y.pk, data={"name": "Y2"})
        except Exception as error:  # the test reports whatever either side raised
            errors["rename"] = error
        finally:
            rename_done.set()
            connections.close_all()

    threads = [threading.Thread(target=list_edit), threading.Thread(target=rename)]
    for thread in threads:
        thread.start()
    x_saved.wait(10)
    # Let the list edit go on once the rename has committed or is stuck behind a lock.
    wait_until(lambda: rename_done.is_set() or sessions_waiting_on_a_lock() > 0)
    rename_stuck_or_done.set()
    for thread in threads:
        thread.join()

    assert errors == {}
    assert list(TokenBundle.objects.order_by("sort_order").values_list("name", "sort_order")) == [
        ("X", 10),
        ("Y2", 20),
    ]
    assert catalog_version()[1] == before[1] + 3


def test_the_admins_bulk_delete_of_more_than_a_batch_and_an_api_change_both_finish():
    """Django deletes a selection in batches of 100. With the version's triggers immediate,
    the first batch took the version's row, the second waited for the item the API had
    locked, and the API's commit waited for the version's row: a deadlock, one side a 500."""
    from django.contrib import admin
    from django.test import RequestFactory

    bundles = TokenBundleFactory.create_batch(101)
    # The collector deletes in descending pk order: the smallest is in the second batch.
    last = min(bundles, key=lambda bundle: bundle.pk)
    others = [bundle.pk for bundle in bundles if bundle.pk != last.pk]
    before = catalog_version()
    api_locked, delete_stuck_or_done, delete_done = (threading.Event() for _ in range(3))
    errors: dict[str, Exception] = {}

    def api_change() -> None:
        try:
            with transaction.atomic():
                services.catalog_item_update(
                    model=TokenBundle, item_id=last.pk, data={"name": "Renamed"}
                )
                api_locked.set()
                delete_stuck_or_done.wait(10)
        except Exception as error:  # the test reports whatever either side raised
            errors["api"] = error
        finally:
            connections.close_all()

    def bulk_delete() -> None:
        api_locked.wait(10)
        try:
            selection = TokenBundle.objects.filter(pk__in=[*others, last.pk])
            admin.site._registry[TokenBundle].delete_queryset(RequestFactory().post("/"), selection)
        except Exception as error:  # the test reports whatever either side raised
            errors["bulk delete"] = error
        finally:
            delete_done.set()
            connections.close_all()

    threads = [threading.Thread(target=api_change), threading.Thread(target=bulk_delete)]
    for thread in threads:
        thread.start()
    api_locked.wait(10)
    wait_until(lambda: delete_done.is_set() or sessions_waiting_on_a_lock() > 0)
    delete_stuck_or_done.set()
    for thread in threads:
        thread.join()

    assert errors == {}
    assert not TokenBundle.objects.exists()
    assert catalog_version()[1] == before[1] + 1 + len(bundles)


@pytest.mark.parametrize("way", ["delete page", "bulk action"])
def test_an_item_bought_while_staff_delete_it_stays_and_staff_are_told(staff_browser, way):
    """The admin checks that nothing bought refers to an item, then deletes it. A checkout
    of that item not yet committed at the check made the delete fail at its commit (the
    foreign key's check), or meet Django's PROTECT: a 500 either way."""
    from django.urls import reverse

    from accounts.tests.factories import UserFactory
    from billing.models import TokenBundlePurchase
    from billing.tests.helpers import checkout

    bundle = TokenBundleFactory(name="Pack")
    if way == "delete page":
        url = reverse("admin:catalog_tokenbundle_delete", args=[bundle.pk])
        data = {"post": "yes"}
    else:
        url = reverse("admin:catalog_tokenbundle_changelist")
        data = {"action": "delete_unbought", "_selected_action": [bundle.pk], "post": "yes"}

    answers = meeting(
        lambda: checkout(UserFactory(), bundles=[bundle]),
        lambda: staff_browser.post(url, data, follow=True),
    )

    assert not isinstance(answers["held"], Exception)
    assert answers["waiting"].status_code == 200
    assert "nothing was deleted" in answers["waiting"].content.decode().lower()
    assert TokenBundle.objects.filter(pk=bundle.pk).exists()
    assert TokenBundlePurchase.objects.filter(bundle=bundle).count() == 1


def test_a_checkout_of_an_item_staff_are_deleting_is_400_naming_it(user_client):
    """The delete goes first: the checkout waits for it and finds the item gone (before, it
    read the item, the delete committed, and the checkout's foreign key failed at its own
    commit: a 500)."""
    from billing.models import Invoice

    bundle = TokenBundleFactory(name="Pack")
    body = {"token_bundle_ids": [str(bundle.pk)]}

    answers = meeting(
        lambda: services.catalog_item_delete(model=TokenBundle, item_id=bundle.pk),
        lambda: user_client.post("/api/v1/user/checkout", body, format="json"),
    )

    assert answers["held"] is None
    assert answers["waiting"].status_code == 400
    assert answers["waiting"].json()["fields"]["token_bundle_ids"] == [
        f"No active token bundle with id {bundle.pk}."
    ]
    assert not Invoice.objects.exists()
    assert not TokenBundle.objects.exists()
