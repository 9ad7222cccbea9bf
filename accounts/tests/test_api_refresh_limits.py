"""How often `POST /auth/refresh` may be called: per user for a refresh token this server
signed (THROTTLE_REFRESH), per client address for anything else (THROTTLE_INVALID_REFRESH).
Password guesses (register, login) keep THROTTLE_AUTH and do not share it with refresh."""

import pytest
from rest_framework.throttling import SimpleRateThrottle

from accounts.selectors import token_pair_for
from accounts.tests.factories import UserFactory
from common.api.throttling import FixedWindowRateThrottle
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
OFFICE = "198.51.100.7"


@pytest.fixture(autouse=True)
def one_window(monkeypatch):
    """Every request in the same calendar minute, so a count cannot restart mid-test."""
    monkeypatch.setattr(FixedWindowRateThrottle, "timer", lambda self: 1_800_000_000.0)


@pytest.fixture
def rates(monkeypatch):
    def set_rates(**rates: str) -> None:
        for scope, rate in rates.items():
            monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rates


def refresh(api_client, token, address=OFFICE):
    return api_client.post(REFRESH, {"refresh": token}, REMOTE_ADDR=address)


def test_many_users_behind_one_address_all_refresh(api_client, rates):
    """An office behind one NAT: each signed-in SPA refreshes every 5 minutes. They counted
    in THROTTLE_AUTH per address together, so past 10 a minute everyone there got 429 and
    was signed out."""
    rates(auth="3/minute", refresh="3/minute", invalid_refresh="3/minute")
    tokens = [token_pair_for(UserFactory())["refresh"] for _ in range(8)]

    statuses = [refresh(api_client, token).status_code for token in tokens]

    assert statuses == [200] * 8


def test_one_user_refreshing_in_a_loop_is_limited_and_told_when_to_retry(api_client, rates):
    rates(refresh="3/minute")
    looping, other = (token_pair_for(UserFactory())["refresh"] for _ in range(2))

    statuses = [refresh(api_client, looping).status_code for _ in range(4)]
    refused = refresh(api_client, looping)
    neighbour = refresh(api_client, other)

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.json() == {
        "error": "Too many requests; try again in 60 seconds.",
        "code": "throttled",
    }
    assert refused["Retry-After"] == "60"
    assert neighbour.status_code == 200


def test_one_user_is_limited_from_whatever_address(api_client, rates):
    rates(refresh="2/minute")
    token = token_pair_for(UserFactory())["refresh"]

    statuses = [
        refresh(api_client, token, address=f"203.0.113.{attempt}").status_code
        for attempt in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_failed_logins_from_an_address_do_not_block_its_refreshes(api_client, rates):
    """One person mistyping a password at the office used up THROTTLE_AUTH for the address,
    and every refresh from there was 429 for the rest of the minute."""
    rates(auth="3/minute")
    token = token_pair_for(UserFactory())["refresh"]
    logins = [
        api_client.post(
            LOGIN, {"email": "typo@example.com", "password": "nope"}, REMOTE_ADDR=OFFICE
        ).status_code
        for _ in range(4)
    ]

    response = refresh(api_client, token)

    assert logins == [401, 401, 401, 429]
    assert response.status_code == 200


def test_refreshes_do_not_use_up_the_password_guesses_of_their_address(api_client, rates):
    rates(auth="2/minute")
    user = UserFactory()
    token = token_pair_for(user)["refresh"]
    for _ in range(5):
        refresh(api_client, token)

    response = api_client.post(
        LOGIN, {"email": user.email, "password": "correct-horse-battery-staple"}, REMOTE_ADDR=OFFICE
    )

    assert response.status_code == 200


@pytest.mark.parametrize("body", [{"refresh": "garbage"}, {"refresh": "a.b.c"}, {}])
def test_invalid_refreshes_are_limited_per_address_and_change_nothing(api_client, rates, body):
    rates(invalid_refresh="2/minute", refresh="1/minute")
    token = token_pair_for(UserFactory())["refresh"]
    state = database_state()

    statuses = [api_client.post(REFRESH, body, REMOTE_ADDR=OFFICE).status_code for _ in range(2)]
    refused = api_client.post(REFRESH, body, REMOTE_ADDR=OFFICE)
    elsewhere = api_client.post(REFRESH, body, REMOTE_ADDR="203.0.113.9")
    valid = refresh(api_client, token)

    assert statuses[0] in {400, 401}
    assert statuses[1] == statuses[0]
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert refused["Retry-After"] == "60"
    assert elsewhere.status_code == statuses[0]
    assert valid.status_code == 200
    assert database_state() == state
