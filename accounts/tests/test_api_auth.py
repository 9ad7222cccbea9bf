import pytest
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.selectors import PASSWORD_CLAIM, token_pair_for
from accounts.tests.factories import PASSWORD, UserFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_window")]

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


def test_register_creates_a_user_who_can_log_in(api_client):
    response = api_client.post(REGISTER, {"email": "New@Example.com", "password": PASSWORD})

    assert response.status_code == 201
    user = User.objects.get()
    assert response.json() == {"id": str(user.id), "email": "new@example.com"}
    assert (
        api_client.post(LOGIN, {"email": "NEW@example.com", "password": PASSWORD}).status_code
        == 200
    )


def test_register_refuses_a_taken_email_in_any_case(api_client):
    UserFactory(email="taken@example.com")
    before = database_state()

    response = api_client.post(REGISTER, {"email": "TAKEN@Example.com", "password": PASSWORD})

    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid input in: email.",
        "code": "validation_error",
        "fields": {"email": ["A user with this email address already exists."]},
    }
    assert database_state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "password": "123"}, "password"),
        ({"email": "a@example.com", "password": "password"}, "password"),
        ({"email": "a@example.com", "password": "a@example.com"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": ["a@example.com"], "password": PASSWORD}, "email"),
        ({"email": "a" * 250 + "@example.com", "password": PASSWORD}, "email"),
    ],
)
def test_register_refuses_bad_input_and_writes_nothing(api_client, body, field):
    before = database_state()

    response = api_client.post(REGISTER, body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["fields"]
    assert database_state() == before


def test_each_thing_wrong_with_a_password_is_its_own_message(api_client):
    """The error shape lists a field's messages: a client shows each, as for any field."""
    response = api_client.post(REGISTER, {"email": "a@example.com", "password": "123"})

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ]
    }
    assert not User.objects.exists()


def test_login_returns_tokens_and_the_user(api_client):
    user = UserFactory(email="me@example.com")

    response = api_client.post(LOGIN, {"email": "Me@Example.com", "password": PASSWORD})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"] == {"id": str(user.id), "email": "me@example.com", "is_staff": False}
    me = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.json()["id"] == str(user.id)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "me@example.com", "password": "wrong"},
        {"email": "nobody@example.com", "password": PASSWORD},
    ],
)
def test_login_with_wrong_credentials_is_401(api_client, body):
    UserFactory(email="me@example.com")

    response = api_client.post(LOGIN, body)

    assert response.status_code == 401
    assert response.json() == {
        "error": "The email or password is not right.",
        "code": "invalid_credentials",
    }


def test_login_of_a_deactivated_user_is_401(api_client):
    UserFactory(email="gone@example.com", is_active=False)

    response = api_client.post(LOGIN, {"email": "gone@example.com", "password": PASSWORD})

    assert response.status_code == 401


def test_refresh_gives_a_new_access_token(api_client, user):
    refresh = token_pair_for(user)["refresh"]

    response = api_client.post(REFRESH, {"refresh": refresh})

    assert response.status_code == 200
    assert set(response.json()) == {"access"}
    me = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.status_code == 200
    assert PASSWORD_CLAIM not in AccessToken(response.json()["access"]).payload


def test_a_new_password_ends_the_refresh_tokens_issued_before_it(api_client, user):
    """A stolen refresh token kept minting access tokens for its 7 days after the owner
    changed their password."""
    before = api_client.post(LOGIN, {"email": user.email, "password": PASSWORD}).json()
    user.set_password("An0ther-long-passw0rd!")
    user.save()
    after = api_client.post(LOGIN, {"email": user.email, "password": "An0ther-long-passw0rd!"})
    state = database_state()

    refused = api_client.post(REFRESH, {"refresh": before["refresh"]})
    accepted = api_client.post(REFRESH, {"refresh": after.json()["refresh"]})

    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
    assert accepted.status_code == 200
    assert PASSWORD_CLAIM not in AccessToken(before["access"]).payload
    assert database_state() == state


def test_a_refresh_token_without_the_password_digest_is_401(api_client, user):
    """One issued before refresh tokens carried it, or made with another secret's digest."""
    bare = RefreshToken.for_user(user)
    forged = RefreshToken.for_user(user)
    forged[PASSWORD_CLAIM] = 12345

    assert api_client.post(REFRESH, {"refresh": str(bare)}).status_code == 401
    assert api_client.post(REFRESH, {"refresh": str(forged)}).status_code == 401


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_refresh_with_an_invalid_token_is_401(api_client, token):
    response = api_client.post(REFRESH, {"refresh": token})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_refresh_with_an_access_token_is_401(api_client, user):
    access = RefreshToken.for_user(user).access_token

    response = api_client.post(REFRESH, {"refresh": str(access)})

    assert response.status_code == 401


def test_refresh_for_a_deactivated_user_is_401(api_client, user):
    refresh = token_pair_for(user)["refresh"]
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.post(REFRESH, {"refresh": refresh})

    assert response.status_code == 401


def test_me_returns_the_user(user_client, user):
    response = user_client.get(ME)

    assert response.status_code == 200
    assert response.json() == {"id": str(user.id), "email": user.email, "is_staff": False}


@pytest.mark.parametrize("header", [None, "Bearer not-a-jwt", "Token abc", "Bearer "])
def test_me_without_a_valid_token_is_401(api_client, header):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_auth_endpoints_are_throttled_by_the_auth_rate(api_client, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    for _ in range(3):
        api_client.post(LOGIN, {"email": "x@example.com", "password": "nope"})

    response = api_client.post(LOGIN, {"email": "x@example.com", "password": "nope"})

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


@pytest.mark.parametrize("path", [LOGIN, REGISTER])
def test_a_new_x_forwarded_for_on_each_request_does_not_escape_the_rate(
    api_client, monkeypatch, path
):
    """Counted by client address (REMOTE_ADDR without TRUSTED_PROXY_COUNT): DRF counted by
    the whole header, which the client writes, so password guesses and sign-ups (each with
    its trial tokens) were unlimited."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    answers = [
        api_client.post(
            path,
            {"email": f"x{attempt}@example.com", "password": "correct-horse-battery-9"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}",
        ).status_code
        for attempt in range(5)
    ]

    assert answers[3:] == [429, 429]


def test_answers_that_carry_tokens_are_kept_by_no_cache(api_client):
    """A browser's or a proxy's cache kept the bearer tokens of a sign-in."""
    user = UserFactory()
    signed_in = api_client.post(LOGIN, {"email": user.email, "password": PASSWORD})
    refreshed = api_client.post(REFRESH, {"refresh": signed_in.json()["refresh"]})

    assert [answer.status_code for answer in (signed_in, refreshed)] == [200, 200]
    assert ["no-store" in answer.get("Cache-Control", "") for answer in (signed_in, refreshed)] == [
        True,
        True,
    ]


@pytest.mark.parametrize(
    ("body", "email_message"),
    [
        ({"email": "not-an-email", "password": "123"}, "Enter a valid email address."),
        ({"password": "123"}, "This field is required."),
        (
            {"email": "taken@example.com", "password": "123"},
            "A user with this email address already exists.",
        ),
        ({"email": "\u0130pek@example.com", "password": "123"}, "Enter a valid email address."),
    ],
)
def test_register_names_a_bad_email_and_a_weak_password_at_once(api_client, body, email_message):
    """A sign-up form shows every error at once: the password's are not held back until
    the email is right."""
    UserFactory(email="taken@example.com")
    before = database_state()

    response = api_client.post(REGISTER, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid input in: email, password.",
        "code": "validation_error",
        "fields": {
            "email": [email_message],
            "password": [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
        },
    }
    assert database_state() == before
