"""A checkout keeps its cart's items in the order of their ids, as the admin's bulk delete
locks them: the two never deadlock, however the table stores the items."""

import threading
import uuid

import psycopg
import pytest
from django.db import connections

from catalog import services
from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory
from common.tests.servers import the_test_database
from common.tests.waits import sessions_waiting_on_a_lock, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_checkout_and_a_bulk_delete_of_the_same_items_do_not_deadlock(user_client):
    # Stored first, ordered last: the checkout's read meets it first, the delete last.
    late = TokenBundleFactory(id=uuid.UUID("ffffffff-0000-4000-8000-000000000000"), name="Late")
    early = TokenBundleFactory(id=uuid.UUID("00000000-0000-4000-8000-000000000001"), name="Early")
    answers: dict[str, object] = {}

    def delete() -> None:
        try:
            answers["delete"] = services.catalog_items_delete(
                queryset=TokenBundle.objects.filter(pk__in=[early.pk, late.pk])
            )
        except Exception as error:  # the test reports whatever it raised
            answers["delete"] = error
        finally:
            connections.close_all()

    def checkout() -> None:
        try:
            answers["checkout"] = user_client.post(
                "/api/v1/user/checkout",
                {"token_bundle_ids": [str(early.pk), str(late.pk)]},
                format="json",
            )
        finally:
            connections.close_all()

    with psycopg.connect(**the_test_database()) as other:
        # A staff change of `late` in progress (no key change: a checkout may still keep it).
        other.execute(
            "SELECT 1 FROM catalog_tokenbundle WHERE id = %s FOR NO KEY UPDATE", [late.pk]
        )
        deleting = threading.Thread(target=delete)
        deleting.start()
        wait_until(lambda: sessions_waiting_on_a_lock() >= 1)  # has `early`, waits for `late`
        buying = threading.Thread(target=checkout)
        buying.start()
        wait_until(lambda: sessions_waiting_on_a_lock() >= 2)  # keeps `late`, waits for `early`
        other.rollback()
        deleting.join()
        buying.join()

    assert not isinstance(answers["delete"], Exception), answers["delete"]
    assert answers["checkout"].status_code == 400, answers["checkout"].json()
    assert not TokenBundle.objects.exists()
