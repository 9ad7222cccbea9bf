"""A capture's key sent again after the API's record is gone, with the same amount but
another `final`: 422 `idempotency_key_reused`, as within the 24 h (docs/api.md, "Capture
needs `Idempotency-Key`"), whenever the hold's record tells the first capture's `final`.
Answering the first capture instead told a client that asked to release the rest that it
was released while the hold still reserved it, or one that asked to keep the hold active
that it was captured."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from tokens import services
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
HOLDS = "/api/v1/user/holds"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def hold(client, amount: int, key: str = "h1") -> str:
    response = client.post(HOLDS, {"amount": amount}, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201, response.json()
    return response.json()["hold"]["id"]


def state_without_records() -> dict:
    state = database_state()
    state.pop("common.IdempotencyRecord")
    return state


@pytest.mark.parametrize(
    ("first", "again", "status"),
    [
        ({"amount": 10, "final": False}, {"amount": 10, "final": True}, "active"),
        ({"amount": 10}, {"amount": 10, "final": False}, "captured"),
        ({"amount": 10, "final": True}, {"amount": 10, "final": False}, "captured"),
    ],
    ids=["step-sent-as-final", "final-sent-as-step", "explicit-final-sent-as-step"],
)
def test_another_final_under_a_captures_key_after_its_record_is_gone_is_422(
    user_client, user, first, again, status
):
    fund(user, 50)
    capture = f"{HOLDS}/{hold(user_client, 30)}/capture"
    done = user_client.post(capture, first, HTTP_IDEMPOTENCY_KEY="c1")
    assert (done.status_code, done.json()["hold"]["status"]) == (200, status)
    IdempotencyRecord.objects.all().delete()  # the purge, a day later
    before = state_without_records()

    answer = user_client.post(capture, again, HTTP_IDEMPOTENCY_KEY="c1")

    assert (answer.status_code, answer.json().get("code")) == (422, "idempotency_key_reused")
    assert state_without_records() == before
    same = user_client.post(capture, first, HTTP_IDEMPOTENCY_KEY="c1")
    assert same.status_code == 200, same.json()
    assert same.json()["usage"]["id"] == done.json()["usage"]["id"]


def test_a_short_step_sent_again_as_final_when_nothing_is_left_is_422(user):
    """The step took the last tokens (the hold still active, the balance 0): its key with
    `final: true` is refused too, not answered as if the rest had been released."""
    grant(user, 10, priority=10)
    voided = grant(user, 90, priority=20)
    first = services.hold_create(user_id=user.pk, amount=50, idempotency_key="h1").hold
    services.hold_create(user_id=user.pk, amount=50, idempotency_key="h2")
    services.lot_void(lot_id=voided.pk, reason="test", actor_id=None)
    step = services.hold_capture(
        user_id=user.pk, hold_id=first.pk, amount=20, final=False, idempotency_key="s1"
    )
    assert (step.used.usage.charged, step.hold.status) == (10, "active")
    before = database_state()

    with pytest.raises(services.LedgerKeyReused):
        services.hold_capture(
            user_id=user.pk, hold_id=first.pk, amount=20, final=True, idempotency_key="s1"
        )

    assert database_state() == before


def test_a_step_that_took_all_the_hold_had_left_answers_either_final(user, clock):
    """A step of all that is left resolves the hold as a final capture would: nothing tells
    the two apart, and neither is refused."""
    fund(user, 50)
    made = services.hold_create(user_id=user.pk, amount=30, idempotency_key="h").hold
    services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=10, final=False, idempotency_key="s1"
    )
    clock.shift(timedelta(seconds=1))
    last = services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=20, final=False, idempotency_key="s2"
    )
    assert last.hold.status == "captured"

    answers = [
        services.hold_capture(
            user_id=user.pk, hold_id=made.pk, amount=20, final=final, idempotency_key="s2"
        )
        for final in (False, True)
    ]

    assert [answer.used.usage.pk for answer in answers] == [last.used.usage.pk] * 2
    with pytest.raises(services.LedgerKeyReused):
        services.hold_capture(
            user_id=user.pk, hold_id=made.pk, amount=10, final=True, idempotency_key="s1"
        )
