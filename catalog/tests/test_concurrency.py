"""Staff writes to the catalog at the same time, on PostgreSQL with real threads, each with its
own connection: the catalog's version must not make them wait on each other."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from catalog import services
from catalog.models import TokenBundle
from catalog.selectors import catalog_version
from catalog.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


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
    deadline = time.monotonic() + 10
    while not rename_done.is_set() and not waiting_on_a_lock() and time.monotonic() < deadline:
        rename_done.wait(0.01)
    rename_stuck_or_done.set()
    for thread in threads:
        thread.join()

    assert errors == {}
    assert list(TokenBundle.objects.order_by("sort_order").values_list("name", "sort_order")) == [
        ("X", 10),
        ("Y2", 20),
    ]
    assert catalog_version()[1] == before[1] + 3
