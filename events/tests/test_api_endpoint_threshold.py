"""Staff's webhook endpoints and the user's alert threshold over the API."""

import pytest

from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_a_user_sets_and_reads_the_low_balance_threshold(user_client, settings):
    settings.LOW_BALANCE_THRESHOLD = 100

    default = user_client.get("/api/v1/user/alerts").json()
    own = user_client.put("/api/v1/user/alerts", {"low_balance_threshold": 25}, format="json")
    back = user_client.put("/api/v1/user/alerts", {"low_balance_threshold": None}, format="json")

    assert default == {"low_balance_threshold": None, "effective_threshold": 100}
    assert own.json() == {"low_balance_threshold": 25, "effective_threshold": 25}
    assert back.json() == {"low_balance_threshold": None, "effective_threshold": 100}


@pytest.mark.parametrize("value", [-1, 1.5, "10", 2_147_483_648, True])
def test_a_bad_threshold_is_400_and_changes_nothing(user_client, value):
    before = database_state()

    response = user_client.put(
        "/api/v1/user/alerts", {"low_balance_threshold": value}, format="json"
    )

    assert (response.status_code, list(response.json()["fields"])) == (
        400,
        ["low_balance_threshold"],
    )
    assert database_state() == before
