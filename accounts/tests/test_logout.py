"""`POST /auth/logout`: signing out with a refresh token ends that token, and only it."""

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.selectors import token_pair_for
from accounts.tests.factories import PASSWORD, UserFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
REFRESH = "/api/v1/auth/refresh"


def sign_in(api_client, user) -> str:
    response = api_client.post(LOGIN, {"email": user.email, "password": PASSWORD})
    return response.json()["refresh"]


def test_a_refresh_token_signed_out_with_refreshes_no_more_and_the_others_go_on(api_client):
    """A person signing out on a shared computer: its refresh token (7 days) went on
    refreshing for whoever used the browser next. Their phone stays signed in."""
    user = UserFactory(password=PASSWORD)
    laptop, phone = sign_in(api_client, user), sign_in(api_client, user)

    signed_out = api_client.post(LOGOUT, {"refresh": laptop})
    refreshed = api_client.post(REFRESH, {"refresh": laptop})

    assert signed_out.status_code == 204
    assert (refreshed.status_code, refreshed.json().get("code")) == (401, "not_authenticated")
    assert api_client.post(REFRESH, {"refresh": phone}).status_code == 200


def test_signing_out_again_is_204_and_changes_nothing(api_client, user):
    refresh = token_pair_for(user)["refresh"]
    api_client.post(LOGOUT, {"refresh": refresh})
    before = database_state()

    again = api_client.post(LOGOUT, {"refresh": refresh})

    assert again.status_code == 204
    assert database_state() == before


@pytest.mark.parametrize(
    ("refresh", "expected"),
    [
        ("not-a-jwt", (401, "not_authenticated")),
        ("", (400, "validation_error")),
        pytest.param("access", (401, "not_authenticated"), id="an access token"),
        pytest.param("expired", (401, "not_authenticated"), id="an expired refresh token"),
    ],
)
def test_signing_out_with_anything_but_a_live_refresh_token_is_refused_and_changes_nothing(
    api_client, user, refresh, expected
):
    token = RefreshToken.for_user(user)
    if refresh == "access":
        refresh = str(token.access_token)
    elif refresh == "expired":
        token.set_exp(lifetime=-token.lifetime)
        refresh = str(token)
    before = database_state()

    response = api_client.post(LOGOUT, {"refresh": refresh})

    assert (response.status_code, response.json()["code"]) == expected
    assert database_state() == before


def test_refresh_still_reads_one_row(api_client, user, django_assert_max_num_queries):
    """Signed-out tokens are looked up in the same query as the user."""
    refresh = token_pair_for(user)["refresh"]

    with django_assert_max_num_queries(1):
        response = api_client.post(REFRESH, {"refresh": refresh})

    assert response.status_code == 200
