"""Every 401 of the API says how to authenticate (RFC 7235 requires `WWW-Authenticate` on a
401): the bearer scheme both access tokens and API keys are sent in. A client library that
refreshes on a 401 with a bearer challenge, or a proxy checking the RFC, saw none on the
auth endpoints' 401s and on those of a deactivated or deleted user."""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from conftest import client_for

pytestmark = pytest.mark.django_db

CHALLENGE = 'Bearer realm="api"'
ME = "/api/v1/auth/me"


def no_token(api_client, user):
    return api_client.get(ME)


def a_token_not_a_jwt(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    return api_client.get(ME)


def an_unknown_api_key(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer tbk_unknown")
    return api_client.get(f"/api/v1/users/{user.pk}/holds")


def a_wrong_password(api_client, user):
    return api_client.post("/api/v1/auth/login", {"email": user.email, "password": "wrong"})


def an_invalid_refresh_token(api_client, user):
    return api_client.post("/api/v1/auth/refresh", {"refresh": "not-a-jwt"})


def signing_out_with_an_invalid_token(api_client, user):
    return api_client.post("/api/v1/auth/logout", {"refresh": "not-a-jwt"})


def me_once_deactivated(api_client, user):
    client = client_for(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    return client.get(ME)


@pytest.mark.parametrize(
    "refused",
    [
        no_token,
        a_token_not_a_jwt,
        an_unknown_api_key,
        a_wrong_password,
        an_invalid_refresh_token,
        signing_out_with_an_invalid_token,
        me_once_deactivated,
    ],
)
def test_every_401_carries_the_bearer_challenge(api_client, refused):
    response = refused(api_client, UserFactory(password=PASSWORD))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE


@pytest.mark.django_db(transaction=True)
def test_the_401_of_a_deleted_users_token_carries_the_bearer_challenge():
    user = User.objects.create_user(email="gone@example.com", password=PASSWORD)
    client = client_for(user)
    User.objects.filter(pk=user.pk).delete()

    response = client.put("/api/v1/user/alerts", {"low_balance_threshold": 5}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE


def test_a_signed_in_user_refused_is_403_without_a_challenge(user_client):
    """Authenticated but not allowed: a new token would not help, so no challenge."""
    response = user_client.get("/api/v1/admin/api-keys")

    assert response.status_code == 403
    assert "WWW-Authenticate" not in response
