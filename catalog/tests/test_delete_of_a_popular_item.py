"""A bought item's delete is refused without reading what bought it: a popular bundle has
hundreds of thousands of purchases, and Django's delete (and the admin's delete page) loaded
every one of them to say no."""

from __future__ import annotations

import tracemalloc

import pytest
from django.db import connection
from django.urls import reverse

from billing.tests.helpers import checkout
from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

PURCHASES = 50_000
# Loading these purchases took 68 MB (the API) and 120 MB (the admin); asking the database, a few.
MEMORY_LIMIT = 6 * 2**20


@pytest.fixture
def popular(user):
    """A bundle with PURCHASES purchases: one real checkout's, copied in SQL."""
    bundle = TokenBundleFactory(name="Popular")
    (purchase,) = checkout(user, bundles=[bundle]).purchases
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO billing_tokenbundlepurchase (id, user_id, bundle_id, invoice_id, name,
                tokens, unit_price, status, tokens_reversed, tokens_unrecovered, created_at)
            SELECT gen_random_uuid(), user_id, bundle_id, invoice_id, name,
                tokens, unit_price, status, tokens_reversed, tokens_unrecovered, created_at
            FROM billing_tokenbundlepurchase, generate_series(1, %s) WHERE id = %s
            """,
            [PURCHASES - 1, purchase.pk],
        )
    return bundle


def peak_memory(call):
    tracemalloc.start()
    try:
        answer = call()
        return answer, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_api_refuses_to_delete_it_without_loading_its_purchases(staff_client, popular):
    before = database_state()

    response, peak = peak_memory(
        lambda: staff_client.delete(f"/api/v1/admin/token-bundles/{popular.pk}")
    )

    assert response.status_code == 409
    assert response.json()["code"] == "in_use"
    assert peak < MEMORY_LIMIT
    assert database_state() == before


def test_the_admin_says_how_often_it_was_bought_without_loading_its_purchases(
    staff_browser, popular
):
    page, peak = peak_memory(
        lambda: staff_browser.get(reverse("admin:catalog_tokenbundle_delete", args=[popular.pk]))
    )

    assert f"{PURCHASES} purchases or subscriptions" in page.content.decode()
    assert peak < MEMORY_LIMIT


def test_the_admins_bulk_delete_refuses_it_without_loading_its_purchases(staff_browser, popular):
    spare = TokenBundleFactory(name="Spare")

    response, peak = peak_memory(
        lambda: staff_browser.post(
            reverse("admin:catalog_tokenbundle_changelist"),
            {"action": "delete_unbought", "_selected_action": [str(popular.pk), str(spare.pk)]},
            follow=True,
        )
    )

    assert "Nothing was deleted: Popular has been bought" in response.content.decode()
    assert peak < MEMORY_LIMIT
    assert TokenBundle.objects.filter(pk__in=[popular.pk, spare.pk]).count() == 2
