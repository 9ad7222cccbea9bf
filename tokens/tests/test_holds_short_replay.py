"""A capture's key sent again after a short capture left nothing: it answers the first
capture's usage (docs/api.md, "Decided: a hold reserves an amount"), and another amount with
it is 422, also when the balance is 0 and the hold is still active."""

from datetime import UTC, datetime

import pytest
import time_machine

from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from tokens import services
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
HOLDS = "/api/v1/user/holds"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def short_step(user):
    """10 kept and 90 voided under two holds of 50; a step of 20 of the first takes the 10
    left and leaves that hold active with 30 to capture."""
    grant(user, 10, priority=10)
    voided = grant(user, 90, priority=20)
    first = services.hold_create(user_id=user.pk, amount=50, idempotency_key="h1").hold
    services.hold_create(user_id=user.pk, amount=50, idempotency_key="h2")
    services.lot_void(lot_id=voided.pk, reason="test", actor_id=None)
    step = services.hold_capture(
        user_id=user.pk, hold_id=first.pk, amount=20, final=False, idempotency_key="s1"
    )
    assert (step.used.usage.charged, step.hold.status) == (10, "active")
    return first, step


def test_a_short_step_sent_again_answers_its_usage_when_nothing_is_left(user):
    first, step = short_step(user)
    before = database_state()

    again = services.hold_capture(
        user_id=user.pk, hold_id=first.pk, amount=20, final=False, idempotency_key="s1"
    )

    assert (again.used.usage.pk, again.used.usage.charged) == (step.used.usage.pk, 10)
    assert database_state() == before


def test_a_short_step_sent_again_through_the_api_after_its_record_is_gone(user_client, user):
    """After the API's 24 h the capture's own usage key answers: the first usage for the same
    amount, 422 for another (both were 402 while nothing was left)."""
    grant(user, 10, priority=10)
    voided = grant(user, 90, priority=20)
    first = hold(user_client, 50, "h1")
    hold(user_client, 50, "h2")
    services.lot_void(lot_id=voided.pk, reason="test", actor_id=None)
    capture = f"{HOLDS}/{first}/capture"
    step = user_client.post(capture, {"amount": 20, "final": False}, HTTP_IDEMPOTENCY_KEY="s1")
    IdempotencyRecord.objects.all().delete()  # the purge, a day later
    before = database_state()

    again = user_client.post(capture, {"amount": 20, "final": False}, HTTP_IDEMPOTENCY_KEY="s1")
    IdempotencyRecord.objects.all().delete()
    other = user_client.post(capture, {"amount": 21, "final": False}, HTTP_IDEMPOTENCY_KEY="s1")

    assert (step.json()["usage"]["charged"], step.json()["hold"]["status"]) == (10, "active")
    assert again.status_code == 200, again.json()
    first_usage = {k: v for k, v in step.json()["usage"].items() if k != "lots"}
    assert again.json()["usage"] == first_usage
    assert again.json()["hold"] == step.json()["hold"]
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def hold(client, amount: int, key: str) -> str:
    response = client.post(HOLDS, {"amount": amount}, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201
    return response.json()["hold"]["id"]
