"""The lots' API: the balance by category, lot lists, one entry's allocations, staff grants
and voids."""

from datetime import timedelta

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from tokens import services
from tokens.tests.api_lots.helpers import NOW
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


LOTS = "/api/v1/user/tokens/lots"


def test_the_balance_shows_lots_by_category_and_what_expires_soon(user_client, user):
    grant(user, 3, category="trial", expires_at=NOW + timedelta(days=5))
    fund(user, 10)

    body = user_client.get("/api/v1/user/tokens/balance").json()

    assert {key: body[key] for key in ("balance", "available", "held")} == {
        "balance": 13,
        "available": 13,
        "held": 0,
    }
    assert body["by_category"] == {"trial": 3, "promotional": 10, "included": 0, "paid": 0}
    assert body["expiring"] == [{"amount": 3, "expires_at": "2026-06-06T12:00:00Z"}]


def test_lots_are_listed_newest_first_and_filtered(user_client, user, clock):
    spent = grant(user, 2, priority=1)
    clock.shift(timedelta(seconds=1))
    expired = grant(user, 5, expires_at=NOW + timedelta(minutes=5))
    clock.shift(timedelta(seconds=1))
    active = grant(user, 7, category="trial")
    services.tokens_debit(user_id=user.pk, amount=2)
    clock.move_to(NOW + timedelta(minutes=10))

    everything = user_client.get(LOTS).json()
    by_status = {
        status: [lot["id"] for lot in user_client.get(LOTS, {"status": status}).json()["items"]]
        for status in ("active", "expired", "spent")
    }
    trial = user_client.get(LOTS, {"category": "trial"}).json()["items"]

    assert [lot["id"] for lot in everything["items"]] == [
        str(active.pk),
        str(expired.pk),
        str(spent.pk),
    ]
    assert everything["total"] == 3
    assert everything["items"][0] == {
        "id": str(active.pk),
        "category": "trial",
        "amount": 7,
        "remaining": 7,
        "expires_at": None,
        "priority": 50,
        "source_type": "grant",
        "source_id": "",
        "status": "active",
        "created_at": "2026-06-01T12:00:02Z",
    }
    assert by_status == {
        "active": [str(active.pk)],
        "expired": [str(expired.pk)],
        "spent": [str(spent.pk)],
    }
    assert [lot["id"] for lot in trial] == [str(active.pk)]


def test_another_users_lots_are_never_listed(user_client):
    grant(UserFactory(), 5)

    assert user_client.get(LOTS).json()["items"] == []


@pytest.mark.parametrize(
    "query", [{"status": "gone"}, {"category": "free"}, {"page": "0"}, {"per_page": "101"}]
)
def test_a_bad_lot_filter_is_400_naming_it(user_client, query):
    response = user_client.get(LOTS, query)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == list(query)


def test_one_entry_shows_the_lots_it_took_from_in_the_order_it_burned_them(user_client, user):
    # Six lots whose ids (random) are unlikely to sort in their burn order (by priority): an
    # unordered read listed them in the order of the plan the database chose, by lot id once
    # the table is large enough for its (entry, lot) index (forced here).
    prefer_indexes()
    lots = [grant(user, 2, priority=priority) for priority in (6, 1, 5, 2, 4, 3)]
    burned = sorted(lots, key=lambda lot: lot.priority)
    usage = services.tokens_debit(user_id=user.pk, amount=11)

    body = user_client.get(f"/api/v1/user/tokens/transactions/{usage.pk}").json()

    assert body["amount"] == -11
    assert body["allocations"] == [
        {
            "lot_id": str(lot.pk),
            "category": "promotional",
            "amount": -2 if lot != burned[-1] else -1,
        }
        for lot in burned
    ]


def test_usage_lists_the_lots_each_use_took_from_in_the_order_it_burned_them(user_client, user):
    prefer_indexes()
    lots = [grant(user, 1, priority=priority) for priority in (6, 1, 5, 2, 4, 3)]
    user_client.post(
        "/api/v1/user/usage",
        {"amount": 6},
        content_type="application/json",
        headers={"Idempotency-Key": "burn-order"},
    )

    listed = user_client.get("/api/v1/user/usage").json()["items"][0]

    in_burn_order = [str(lot.pk) for lot in sorted(lots, key=lambda lot: lot.priority)]
    assert [a["lot_id"] for a in listed["allocations"]] == in_burn_order


def test_one_usage_shows_the_lots_it_took_from_in_the_order_the_list_does(user_client, user):
    prefer_indexes()
    lots = [grant(user, 1, priority=priority) for priority in (6, 1, 5, 2, 4, 3)]
    used = user_client.post(
        "/api/v1/user/usage",
        {"amount": 6},
        content_type="application/json",
        headers={"Idempotency-Key": "burn-order"},
    ).json()

    shown = user_client.get(f"/api/v1/user/usage/{used['usage']['id']}").json()

    in_burn_order = [str(lot.pk) for lot in sorted(lots, key=lambda lot: lot.priority)]
    assert [a["lot_id"] for a in shown["allocations"]] == in_burn_order


def prefer_indexes() -> None:
    """Reads as on a large table: along an index (PostgreSQL; this test's transaction undoes
    it). SQLite uses the index on a table of any size."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")


def test_another_users_entry_is_404(user_client):
    stranger = UserFactory()
    entry = fund(stranger, 5)

    response = user_client.get(f"/api/v1/user/tokens/transactions/{entry.pk}")

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
