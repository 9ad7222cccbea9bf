"""Holds: reserve, capture in steps, release, expire exactly at `expires_at`."""

from datetime import timedelta

import pytest

from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from conftest import client_for
from tokens import selectors, services
from tokens.models import Hold, UsageRecord
from tokens.tests.factories import fund
from tokens.tests.holds.helpers import HOLDS, hold

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_capture_retried_with_its_key_charges_once(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]
    url = f"{HOLDS}/{made['id']}/capture"

    first = user_client.post(url, {"amount": 10}, HTTP_IDEMPOTENCY_KEY="same")
    again = user_client.post(url, {"amount": 10}, HTTP_IDEMPOTENCY_KEY="same")

    assert again.json() == first.json()
    assert UsageRecord.objects.count() == 1


def test_a_capture_repeated_with_its_key_after_the_record_is_gone_answers_the_first(user):
    """The API's idempotency record may be purged; the capture's own usage key still finds
    the first answer: after the hold resolved, and for a step of a capture in steps."""
    fund(user, 50)
    made = services.hold_create(user_id=user.pk, amount=30, idempotency_key="h").hold
    step = services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=5, final=False, idempotency_key="s1"
    )
    final = services.hold_capture(user_id=user.pk, hold_id=made.pk, amount=10, idempotency_key="f")

    step_again = services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=5, final=False, idempotency_key="s1"
    )
    final_again = services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=10, idempotency_key="f"
    )

    assert (step_again.used.usage.pk, final_again.used.usage.pk) == (
        step.used.usage.pk,
        final.used.usage.pk,
    )
    assert final_again.hold.status == "captured"
    assert UsageRecord.objects.filter(hold_id=made.pk).count() == 2
    assert selectors.token_balance(user_id=user.pk).balance == 35
    with pytest.raises(services.HoldNotActive):
        services.hold_capture(user_id=user.pk, hold_id=made.pk, amount=1, idempotency_key="new")


def test_a_capture_key_sent_again_with_another_amount_after_its_record_is_gone_is_422(user):
    """Within the API's 24 h its record refuses another body; after, the capture's own usage
    key does (it answered the first capture, as if the new amount had been charged)."""
    fund(user, 50)
    client = client_for(user)
    made = hold(client, {"amount": 30}).json()["hold"]
    capture = f"{HOLDS}/{made['id']}/capture"
    client.post(capture, {"amount": 5, "final": False}, HTTP_IDEMPOTENCY_KEY="s1")
    client.post(capture, {"amount": 10}, HTTP_IDEMPOTENCY_KEY="f")
    IdempotencyRecord.objects.all().delete()  # the purge, a day later
    before = database_state()

    answers = [
        client.post(capture, body, HTTP_IDEMPOTENCY_KEY=key)
        for key, body in (("s1", {"amount": 6, "final": False}), ("f", {"amount": 20}))
    ]

    assert [(answer.status_code, answer.json()["code"]) for answer in answers] == [
        (422, "idempotency_key_reused")
    ] * 2
    assert database_state() == before


def test_a_hold_repeated_with_its_key_after_the_record_is_gone_answers_the_first_when_short(
    user_client, user, clock
):
    """After the API's 24 h the hold's own key still answers the first hold (as it is now),
    also when the tokens it reserved have been spent since (before: 402)."""
    fund(user, 10)
    first = hold(user_client, {"amount": 10, "ttl_seconds": 60}, key="k").json()["hold"]
    clock.shift(timedelta(hours=25))
    user_client.post("/api/v1/user/usage", {"amount": 10}, HTTP_IDEMPOTENCY_KEY="spend")

    again = hold(user_client, {"amount": 10, "ttl_seconds": 60}, key="k")
    other = hold(user_client, {"amount": 9, "ttl_seconds": 60}, key="k")

    assert again.status_code == 201
    assert again.json() == {
        "hold": {**first, "status": "expired"},
        "balance": {"balance": 0, "available": 0},
    }
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert Hold.objects.count() == 1


@pytest.mark.parametrize("caller", ["service", "staff_client"])
def test_a_capture_with_the_longest_key_works_and_answers_again_after_its_record(
    request, user, caller, clock
):
    """255 characters after a service's or staff member's scope were longer than the usage's
    key column: PostgreSQL refused the insert and the capture answered 500."""
    client, key = request.getfixturevalue(caller), "k" * 255
    fund(user, 50)
    url = f"/api/v1/users/{user.pk}/holds"
    made = client.post(url, {"amount": 20}, HTTP_IDEMPOTENCY_KEY="h").json()["hold"]

    captured = client.post(f"{url}/{made['id']}/capture", {"amount": 5}, HTTP_IDEMPOTENCY_KEY=key)
    clock.shift(timedelta(hours=25))
    again = client.post(f"{url}/{made['id']}/capture", {"amount": 5}, HTTP_IDEMPOTENCY_KEY=key)

    assert captured.status_code == 200
    assert again.json()["usage"] == captured.json()["usage"]
    assert UsageRecord.objects.get().charged == 5
