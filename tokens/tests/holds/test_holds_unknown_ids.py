"""A capture or release whose path names no hold of that user is a 404 that keeps nothing:
its `Idempotency-Key` stays free, as for any refusal the client corrects (docs/api.md,
Idempotency), so the same key sent to the right hold does the work instead of a 422."""

import uuid

import pytest

from common.tests.helpers import database_state
from conftest import client_for
from tokens.models import Hold
from tokens.tests.factories import fund
from tokens.tests.holds.helpers import HOLDS, hold

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

STEPS = {
    "capture": {"amount": 4},
    "release": {},
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_service_s_step_on_an_unknown_hold_keeps_its_key_free(user, service, step):
    fund(user, 50)
    made = service.post(
        f"/api/v1/users/{user.pk}/holds", {"amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY="h"
    ).json()["hold"]
    before = database_state()

    typo = service.post(
        f"/api/v1/users/{user.pk}/holds/{uuid.uuid4()}/{step}",
        STEPS[step],
        format="json",
        HTTP_IDEMPOTENCY_KEY="step",
    )
    assert (typo.status_code, typo.json()["code"]) == (404, "not_found")
    assert database_state() == before

    corrected = service.post(
        f"/api/v1/users/{user.pk}/holds/{made['id']}/{step}",
        STEPS[step],
        format="json",
        HTTP_IDEMPOTENCY_KEY="step",
    )
    assert corrected.status_code == 200, corrected.json()
    assert Hold.objects.get(pk=made["id"]).status != Hold.Status.ACTIVE


@pytest.mark.parametrize("step", list(STEPS))
def test_a_step_on_another_user_s_hold_is_a_404_that_keeps_nothing(user_client, user, step):
    fund(user, 50)
    made = hold(user_client, {"amount": 10}).json()["hold"]
    stranger = client_for(type(user).objects.create_user(email="stranger@example.com"))
    before = database_state()

    response = stranger.post(
        f"{HOLDS}/{made['id']}/{step}", STEPS[step], format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert database_state() == before
