"""The lots' API: the balance by category, lot lists, one entry's allocations, staff grants
and voids."""

from datetime import timedelta

import pytest

from common.tests.helpers import database_state
from conftest import client_for
from tokens import services
from tokens.tests.api_lots.helpers import NOW
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_staff_void_a_lot(staff_client, user):
    lot = grant(user, 10)

    response = staff_client.post(f"/api/v1/admin/lots/{lot.pk}/void", {"reason": "fraud"})

    assert response.status_code == 200
    assert (response.json()["remaining"], response.json()["status"]) == (0, "voided")
    assert client_for(user).get("/api/v1/user/tokens/balance").json()["balance"] == 0


@pytest.mark.parametrize("state", ["expired", "spent"])
def test_voiding_an_expired_or_spent_lot_is_409_and_changes_nothing(
    staff_client, user, clock, state
):
    lot = grant(user, 4, expires_at=NOW + timedelta(minutes=5))
    if state == "spent":
        services.tokens_debit(user_id=user.pk, amount=4)
    else:
        clock.move_to(NOW + timedelta(minutes=5))
    before = database_state()

    response = staff_client.post(f"/api/v1/admin/lots/{lot.pk}/void", {"reason": "late"})

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert database_state() == before


def test_voiding_needs_a_reason(staff_client, user):
    lot = grant(user, 4)
    before = database_state()

    response = staff_client.post(f"/api/v1/admin/lots/{lot.pk}/void", {})

    assert response.status_code == 400
    assert "reason" in response.json()["fields"]
    assert database_state() == before
