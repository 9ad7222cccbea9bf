"""The public listings are rendered once per catalog version and served from memory, with an
ETag: right the instant the catalog changes, whichever way it is changed.

These tests commit (transaction=True): a listing is kept only when it was read outside a
transaction, at a version everyone can see."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from catalog.models import Currency, Plan, TokenBundle
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]

LISTINGS = ["/api/v1/token-bundles", "/api/v1/add-ons", "/api/v1/plans"]


@pytest.fixture
def catalog(db):
    return {
        "bundle": TokenBundleFactory(name="Small", token_amount=10, price=Decimal("5.00")),
        "add_on": AddOnFactory(name="Support"),
        "plan": PlanFactory(name="Pro"),
    }


def names(response) -> list[str]:
    return [item["name"] for item in response.json()["items"]]


@pytest.mark.parametrize("path", LISTINGS)
def test_a_listing_already_rendered_costs_one_indexed_read(
    api_client, catalog, path, django_assert_max_num_queries
):
    first = api_client.get(path)

    with django_assert_max_num_queries(1):
        again = api_client.get(path)

    assert again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == "public, no-cache"


@pytest.mark.parametrize("path", LISTINGS)
def test_the_etag_sent_back_gets_a_304_without_a_body(api_client, catalog, path):
    etag = api_client.get(path)["ETag"]

    response = api_client.get(path, HTTP_IF_NONE_MATCH=f'"other", W/{etag}')

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert api_client.get(path, HTTP_IF_NONE_MATCH='"other"').status_code == 200


@pytest.mark.parametrize("method", ["get", "head"])
def test_a_304_says_nothing_about_the_content_but_its_length(api_client, catalog, method):
    """A cache copies a 304's headers onto the JSON it kept: it was labelled text/html, with
    a length of 0."""
    ok = api_client.get("/api/v1/token-bundles")

    response = getattr(api_client, method)("/api/v1/token-bundles", HTTP_IF_NONE_MATCH=ok["ETag"])

    assert response.status_code == 304
    assert "Content-Type" not in response
    assert response["Content-Length"] == str(len(ok.content))


def test_if_none_match_star_gets_a_304(api_client, catalog):
    """`*` matches any current representation (RFC 9110), and a listing always has one."""
    etag = api_client.get("/api/v1/token-bundles")["ETag"]

    response = api_client.get("/api/v1/token-bundles", HTTP_IF_NONE_MATCH="*")

    assert (response.status_code, response["ETag"]) == (304, etag)


def test_a_staff_change_through_the_api_shows_at_once(api_client, staff_client, catalog):
    before = api_client.get("/api/v1/token-bundles")
    bundle = catalog["bundle"]

    changed = staff_client.patch(f"/api/v1/admin/token-bundles/{bundle.id}", {"name": "Tiny"})
    after = api_client.get("/api/v1/token-bundles", HTTP_IF_NONE_MATCH=before["ETag"])

    assert changed.status_code == 200
    assert after.status_code == 200
    assert names(after) == ["Tiny"]
    assert after["ETag"] != before["ETag"]


@pytest.mark.parametrize("body", [{}, {"name": "Small", "price": "5.0", "version": 1}])
def test_a_staff_patch_changing_nothing_writes_nothing(api_client, staff_client, catalog, body):
    """A client revalidating its listing must not refetch for a save that changed nothing."""
    before = api_client.get("/api/v1/token-bundles")
    bundle = catalog["bundle"]
    state = database_state()

    patched = staff_client.patch(f"/api/v1/admin/token-bundles/{bundle.id}", body, format="json")
    after = api_client.get("/api/v1/token-bundles", HTTP_IF_NONE_MATCH=before["ETag"])

    assert (patched.status_code, patched.json()["version"]) == (200, 1)
    assert patched.json()["updated_at"] == before.json()["items"][0]["updated_at"]
    assert (after.status_code, after["ETag"]) == (304, before["ETag"])
    assert database_state() == state


@pytest.mark.parametrize(
    "change",
    [
        lambda catalog: TokenBundle.objects.update(price=Decimal("7.00")),
        lambda catalog: TokenBundleFactory(name="Large", token_amount=100),
        lambda catalog: TokenBundle.objects.filter(pk=catalog["bundle"].pk).delete(),
        lambda catalog: Currency.objects.update(symbol="US$"),
    ],
    ids=["bulk update", "insert", "delete", "currency"],
)
def test_any_write_to_the_catalog_shows_at_once(api_client, catalog, change):
    before = api_client.get("/api/v1/token-bundles")
    api_client.get("/api/v1/token-bundles")

    change(catalog)
    after = api_client.get("/api/v1/token-bundles")

    assert after.content != before.content
    fresh = api_client.get("/api/v1/token-bundles")
    assert fresh.content == after.content


def test_a_plan_turned_off_leaves_the_plans_listing_at_once(api_client, catalog):
    assert names(api_client.get("/api/v1/plans")) == ["Pro"]

    Plan.objects.filter(pk=catalog["plan"].pk).update(is_active=False)

    assert names(api_client.get("/api/v1/plans")) == []


def test_a_listing_read_inside_a_transaction_that_rolls_back_is_not_kept(api_client, catalog):
    """Its version number will be given again to another change once this one is undone. And
    what was kept before is not used inside: on PostgreSQL the transaction's own writes raise
    the version only as it commits."""
    seen_before = names(api_client.get("/api/v1/token-bundles"))
    seen_inside = []

    def undone() -> None:
        with transaction.atomic():
            TokenBundle.objects.update(name="Undone")
            seen_inside.append(names(api_client.get("/api/v1/token-bundles")))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        undone()
    TokenBundle.objects.update(name="Kept")

    assert (seen_before, seen_inside) == (["Small"], [["Undone"]])
    assert names(api_client.get("/api/v1/token-bundles")) == ["Kept"]


def test_the_version_row_made_again_after_it_was_deleted_starts_a_new_epoch(api_client, catalog):
    api_client.get("/api/v1/token-bundles")
    with connection.cursor() as cursor:
        cursor.execute("SELECT epoch FROM catalog_catalogversion")
        (old_epoch,) = cursor.fetchone()
        cursor.execute("DELETE FROM catalog_catalogversion")

    without_row = api_client.get("/api/v1/token-bundles")
    TokenBundle.objects.update(name="After")

    assert names(without_row) == ["Small"]
    assert names(api_client.get("/api/v1/token-bundles")) == ["After"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT epoch, version FROM catalog_catalogversion")
        epoch, version = cursor.fetchone()
    assert (epoch != old_epoch, version) == (True, 1)


def test_a_listing_read_with_autocommit_off_is_not_kept(api_client, catalog):
    """A transaction opened by turning autocommit off is no atomic block, and its rollback
    gives the version number back as well."""
    transaction.set_autocommit(False)
    try:
        TokenBundle.objects.update(name="Undone")
        seen_inside = names(api_client.get("/api/v1/token-bundles"))
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    TokenBundle.objects.update(name="Kept")

    assert seen_inside == ["Undone"]
    assert names(api_client.get("/api/v1/token-bundles")) == ["Kept"]


def test_a_migration_may_write_catalog_rows_and_then_alter_the_table(api_client, catalog):
    """The version's triggers are immediate unless the services defer them: an event still
    pending on a table stops an ALTER TABLE of it in the same transaction, which is what a
    migration that fills a new column and then makes it NOT NULL does."""
    with transaction.atomic():
        TokenBundle.objects.update(name="Filled")
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE catalog_tokenbundle ADD COLUMN scratch integer")
        transaction.set_rollback(True)

    assert names(api_client.get("/api/v1/token-bundles")) == ["Small"]
