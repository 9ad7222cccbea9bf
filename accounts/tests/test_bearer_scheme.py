"""`Authorization: Bearer <token>` names its scheme case-insensitively (RFC 9110, 11.1), as
some HTTP clients and proxies send it: `bearer` works for an access token as it already did
for an API key."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db

SCHEMES = ["Bearer", "bearer", "BEARER"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_an_access_token_is_read_whatever_the_case_of_its_scheme(api_client, user, scheme):
    fund(user, 7)
    token = AccessToken.for_user(user)

    balance = api_client.get("/api/v1/user/tokens/balance", HTTP_AUTHORIZATION=f"{scheme} {token}")
    me = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"{scheme} {token}")

    assert balance.status_code == 200, balance.json()
    assert balance.json()["balance"] == 7
    assert (me.status_code, me.json().get("id")) == (200, str(user.pk))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_write_with_an_access_token_is_made_whatever_the_case_of_its_scheme(
    api_client, user, scheme
):
    fund(user, 7)
    token = AccessToken.for_user(user)

    response = api_client.post(
        "/api/v1/user/tokens/consume",
        {"amount": 2},
        format="json",
        HTTP_AUTHORIZATION=f"{scheme} {token}",
        HTTP_IDEMPOTENCY_KEY="once",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["balance"] == 5


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_service_key_is_read_whatever_the_case_of_its_scheme(api_client, user, api_key, scheme):
    response = api_client.get(
        f"/api/v1/users/{user.pk}/holds", HTTP_AUTHORIZATION=f"{scheme} {api_key.secret}"
    )

    assert response.status_code == 200


def test_another_scheme_is_still_no_credentials(api_client, user):
    token = AccessToken.for_user(user)

    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Token {token}")

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
