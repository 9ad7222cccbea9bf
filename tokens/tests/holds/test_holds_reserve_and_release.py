"""Holds: reserve, capture in steps, release, expire exactly at `expires_at`."""

from datetime import timedelta

import pytest

from common.tests.helpers import database_state
from tokens import selectors, services
from tokens.models import Hold
from tokens.tests.factories import fund
from tokens.tests.holds.helpers import HOLDS, NOW, available, hold

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_hold_counts_against_what_is_available_at_once(user_client, user):
    fund(user, 50)

    response = hold(user_client, {"amount": 30, "ttl_seconds": 600, "feature": "llm"})

    assert response.status_code == 201
    assert response.json() == {
        "hold": {
            "id": response.json()["hold"]["id"],
            "amount": 30,
            "captured": 0,
            "status": "active",
            "expires_at": "2026-07-01T08:10:00Z",
            "source": "tokens",
            "feature": "llm",
            "created_at": "2026-07-01T08:00:00Z",
        },
        "balance": {"balance": 50, "available": 20},
    }
    assert (available(user), selectors.token_balance(user_id=user.pk).held) == (20, 30)


def test_a_hold_that_does_not_fit_is_402_and_holds_nothing(user_client, user):
    fund(user, 50)
    hold(user_client, {"amount": 40}, key="a")
    before = database_state()

    response = hold(user_client, {"amount": 11}, key="b")

    assert response.status_code == 402
    assert (response.json()["available"], response.json()["needed"]) == (10, 11)
    after, before = database_state(), before
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def test_usage_cannot_spend_what_a_hold_reserves(user, user_client):
    fund(user, 50)
    hold(user_client, {"amount": 45})

    with pytest.raises(services.InsufficientTokens) as short:
        services.tokens_debit(user_id=user.pk, amount=6)

    assert (short.value.balance, short.value.available) == (50, 5)


def test_a_released_hold_frees_its_tokens_and_resolves_once(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]

    released = user_client.post(f"{HOLDS}/{made['id']}/release")
    again = user_client.post(f"{HOLDS}/{made['id']}/release")
    capture_after = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="late"
    )

    assert released.json()["hold"]["status"] == "released"
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    assert (capture_after.status_code, capture_after.json()["code"]) == (409, "invalid_state")
    assert available(user) == 50


def test_a_hold_expires_exactly_at_its_time_without_a_sweep(user_client, user, clock):
    fund(user, 50)
    made = hold(user_client, {"amount": 30, "ttl_seconds": 60}).json()["hold"]

    clock.move_to(NOW + timedelta(seconds=59, microseconds=999_999))
    just_before = available(user)
    clock.move_to(NOW + timedelta(seconds=60))
    at_expiry = available(user)
    late = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="late"
    )
    shown = user_client.get(f"{HOLDS}/{made['id']}").json()

    assert (just_before, at_expiry) == (20, 50)
    assert (late.status_code, late.json()["code"]) == (409, "hold_expired")
    assert shown["status"] == "expired"
    assert services.tokens_debit(user_id=user.pk, amount=50).balance_after == 0


def test_the_sweep_records_expired_holds_once(user_client, user, clock):
    fund(user, 50)
    hold(user_client, {"amount": 30, "ttl_seconds": 60})
    clock.move_to(NOW + timedelta(minutes=2))

    first, second = services.holds_expire(), services.holds_expire()

    assert (first, second) == (1, 0)
    assert Hold.objects.get().status == "expired"
    assert selectors.token_balance(user_id=user.pk).held == 0
