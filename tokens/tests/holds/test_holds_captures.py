"""Holds: reserve, capture in steps, release, expire exactly at `expires_at`."""

from datetime import timedelta

import pytest

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.helpers import database_state
from tokens import selectors
from tokens.models import Hold
from tokens.tests.factories import fund, grant
from tokens.tests.holds.helpers import HOLDS, NOW, available, hold

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_final_capture_charges_less_and_releases_the_rest(user_client, user):
    lot = grant(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]

    response = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 12}, HTTP_IDEMPOTENCY_KEY="c1"
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["hold"]["status"], body["hold"]["captured"]) == ("captured", 12)
    assert (body["usage"]["charged"], body["usage"]["source"]) == (12, "tokens")
    assert body["usage"]["allocations"] == [
        {"lot_id": str(lot.pk), "category": "promotional", "amount": 12}
    ]
    assert (selectors.token_balance(user_id=user.pk).balance, available(user)) == (38, 38)


def test_captures_with_final_false_keep_the_hold_active(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]
    url = f"{HOLDS}/{made['id']}/capture"

    first = user_client.post(url, {"amount": 10, "final": False}, HTTP_IDEMPOTENCY_KEY="1")
    second = user_client.post(url, {"amount": 20, "final": False}, HTTP_IDEMPOTENCY_KEY="2")

    assert first.json()["hold"]["status"] == "active"
    assert (second.json()["hold"]["status"], second.json()["hold"]["captured"]) == (
        "captured",
        30,
    )
    assert available(user) == 20


def test_capturing_more_than_the_hold_has_left_is_409_and_changes_nothing(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 10}).json()["hold"]
    before = database_state()

    response = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 11}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert (response.status_code, response.json()["code"]) == (409, "exceeds_hold")
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def test_under_an_unlimited_plan_a_hold_reserves_nothing_and_its_capture_is_free(user_client, user):
    capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)
    fund(user, 5)

    made = hold(user_client, {"amount": 100}).json()
    captured = user_client.post(
        f"{HOLDS}/{made['hold']['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    ).json()

    assert (made["hold"]["source"], made["balance"]) == (
        "subscription",
        {"balance": 5, "available": 5},
    )
    assert (captured["usage"]["source"], captured["usage"]["charged"]) == ("subscription", 0)
    assert available(user) == 5


def test_a_capture_after_the_lots_it_counted_on_expired_takes_what_there_is(
    user_client, user, clock
):
    """Decided: a hold reserves an amount, not lots. If lots expire under it, the capture
    charges what is left (never below zero) and says so in `charged`."""
    grant(user, 20, expires_at=NOW + timedelta(minutes=5))
    fund(user, 5)
    made = hold(user_client, {"amount": 25, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(NOW + timedelta(minutes=5))

    body = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 25}, HTTP_IDEMPOTENCY_KEY="c"
    ).json()

    assert (body["usage"]["amount"], body["usage"]["charged"]) == (25, 5)
    assert body["hold"]["status"] == "captured"
    assert selectors.token_balance(user_id=user.pk).balance == 0


def test_a_capture_with_nothing_at_all_left_is_402_and_the_hold_stays_active(
    user_client, user, clock
):
    """The ledger records no entry of 0 tokens: the capture changes nothing (docs/api.md),
    and the client releases the hold or lets it expire."""
    grant(user, 10, expires_at=NOW + timedelta(minutes=5))
    made = hold(user_client, {"amount": 10, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(NOW + timedelta(minutes=10))
    before = database_state()

    response = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 5, "final": True}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert response.status_code == 402
    assert response.json() == {
        "error": "The balance is 0 tokens; this needs 5.",
        "code": "insufficient_tokens",
        "balance": 0,
        "available": 0,
        "needed": 5,
    }
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before
    assert Hold.objects.get(pk=made["id"]).status == "active"
