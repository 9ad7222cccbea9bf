"""Holds: reserve, capture in steps, release, expire exactly at `expires_at`."""

import pytest

from accounts.tests.factories import UserFactory
from common.tests.helpers import database_state
from conftest import client_for
from tokens import selectors
from tokens.tests.factories import fund
from tokens.tests.holds.helpers import HOLDS, hold

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 1_000_001}, "amount"),
        ({"amount": 5, "ttl_seconds": 0}, "ttl_seconds"),
        ({"amount": 5, "ttl_seconds": 86_401}, "ttl_seconds"),
        ({"amount": 5, "feature": "f" * 65}, "feature"),
    ],
)
def test_a_bad_hold_is_400_naming_the_field_and_changes_nothing(user_client, user, body, field):
    fund(user, 50)
    before = database_state()

    response = hold(user_client, body)

    assert (response.status_code, field in response.json()["fields"]) == (400, True)
    assert database_state() == before


def test_another_users_hold_is_404_everywhere(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 5}).json()["hold"]
    stranger = client_for(UserFactory())
    before = database_state()

    responses = [
        stranger.get(f"{HOLDS}/{made['id']}"),
        stranger.post(f"{HOLDS}/{made['id']}/release"),
        stranger.post(f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="x"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def test_a_service_holds_and_captures_for_a_user(service, user):
    fund(user, 50)
    url = f"/api/v1/users/{user.pk}/holds"

    made = service.post(url, {"amount": 20}, HTTP_IDEMPOTENCY_KEY="h").json()["hold"]
    captured = service.post(f"{url}/{made['id']}/capture", {"amount": 20}, HTTP_IDEMPOTENCY_KEY="c")
    listed = service.get(url, {"status": "captured"}).json()

    assert captured.status_code == 200
    assert [item["id"] for item in listed["items"]] == [made["id"]]
    assert selectors.token_balance(user_id=user.pk).balance == 30


@pytest.mark.parametrize("maker", ["service", "staff_client"])
def test_a_user_cannot_settle_a_hold_a_service_or_staff_made_for_them(
    request, user, user_client, maker
):
    """A seller's backend reserves 50 tokens for a job and captures what the job cost at its
    end. The user's own capture took the hold for 1 token (final), or their release freed
    it, and the seller's capture was then 409 `invalid_state`: the work went unpaid."""
    fund(user, 100)
    made_by = request.getfixturevalue(maker)
    url = f"/api/v1/users/{user.pk}/holds"
    made = made_by.post(url, {"amount": 50}, HTTP_IDEMPOTENCY_KEY="job").json()["hold"]
    before = database_state()

    captured = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="mine"
    )
    released = user_client.post(f"{HOLDS}/{made['id']}/release")
    seen = user_client.get(f"{HOLDS}/{made['id']}")

    assert [captured.status_code, released.status_code] == [403, 403]
    assert captured.json()["code"] == released.json()["code"] == "permission_denied"
    assert (seen.status_code, seen.json()["status"]) == (200, "active")
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before
    settled = made_by.post(f"{url}/{made['id']}/capture", {"amount": 50}, HTTP_IDEMPOTENCY_KEY="c")
    assert settled.status_code == 200
    assert selectors.token_balance(user_id=user.pk).balance == 50


def test_a_user_settles_the_holds_they_made(user, user_client):
    fund(user, 100)
    first = hold(user_client, {"amount": 10}, key="a").json()["hold"]
    second = hold(user_client, {"amount": 10}, key="b").json()["hold"]

    captured = user_client.post(
        f"{HOLDS}/{first['id']}/capture", {"amount": 4}, HTTP_IDEMPOTENCY_KEY="c"
    )
    released = user_client.post(f"{HOLDS}/{second['id']}/release")

    assert [captured.status_code, released.status_code] == [200, 200]
    assert selectors.token_balance(user_id=user.pk).balance == 96
