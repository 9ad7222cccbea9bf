"""Access tokens that must not work: expired, tampered, unsigned (`alg: none`), signed with
another key, a refresh token in their place, a deactivated user's once it expires. Each is a
401 in the contract's shape, and a write sent with one changes nothing."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.selectors import PASSWORD_CLAIM
from accounts.tests.factories import UserFactory
from common.tests.helpers import database_state
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me"
CONSUME = "/api/v1/user/tokens/consume"
NOT_AUTHENTICATED = "not_authenticated"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict:
    return json.loads(unb64(token.split(".")[1]))


def tampered(user) -> str:
    """The user's real token with its payload changed to name a staff member, signature kept."""
    token = str(AccessToken.for_user(user))
    header, _, signature = token.split(".")
    claims = {**claims_of(token), "user_id": str(UserFactory(is_staff=True).pk)}
    return ".".join([header, b64(json.dumps(claims).encode()), signature])


def unsigned(user) -> str:
    """Valid claims under `{"alg": "none"}` and no signature."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims_of(str(AccessToken.for_user(user)))).encode())
    return f"{header}.{payload}."


def signed_with_another_key(user) -> str:
    claims = claims_of(str(AccessToken.for_user(user)))
    return jwt.encode(claims, "not-" + settings.SECRET_KEY, algorithm="HS256")


def refresh_in_place_of_access(user) -> str:
    return str(RefreshToken.for_user(user))


FORGERIES = [tampered, unsigned, signed_with_another_key, refresh_in_place_of_access]


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.parametrize("forge", FORGERIES)
def test_a_forged_or_misused_token_is_401_and_a_write_with_it_changes_nothing(
    api_client, user, forge
):
    fund(user, 100)
    token = forge(user)
    before = database_state()

    me = api_client.get(ME, **bearer(token))
    consumed = api_client.post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="k", **bearer(token))

    assert (me.status_code, me.json()["code"]) == (401, NOT_AUTHENTICATED)
    assert (consumed.status_code, consumed.json()["code"]) == (401, NOT_AUTHENTICATED)
    assert consumed.json().keys() == {"error", "code"}
    assert database_state() == before


def test_an_access_token_works_until_it_expires_and_is_401_after(api_client, user):
    issued = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    with time_machine.travel(issued, tick=False) as clock:
        token = str(AccessToken.for_user(user))
        clock.shift(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] - timedelta(seconds=1))
        still = api_client.get(ME, **bearer(token))
        clock.shift(timedelta(seconds=2))

        expired = api_client.get(ME, **bearer(token))

    assert still.status_code == 200
    assert (expired.status_code, expired.json()["code"]) == (401, NOT_AUTHENTICATED)


def test_a_deactivated_users_me_is_refused_at_once(api_client, user):
    token = str(AccessToken.for_user(user))
    assert api_client.get(ME, **bearer(token)).status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.get(ME, **bearer(token))

    assert (response.status_code, response.json()["code"]) == (401, NOT_AUTHENTICATED)


def test_a_deactivated_users_token_reaches_their_account_only_until_it_expires(api_client, user):
    """Authentication trusts the token's claims (no read of the user), so the token's short
    life is what bounds a deactivated user's access; refreshing reads the user."""
    fund(user, 10)
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        token = str(AccessToken.for_user(user))
        User.objects.filter(pk=user.pk).update(is_active=False)
        clock.shift(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] - timedelta(seconds=1))
        within = api_client.get("/api/v1/user/tokens/balance", **bearer(token))
        clock.shift(timedelta(seconds=2))
        after = api_client.get("/api/v1/user/tokens/balance", **bearer(token))

    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] <= timedelta(minutes=5)
    assert within.status_code == 200
    assert (after.status_code, after.json()["code"]) == (401, NOT_AUTHENTICATED)


@pytest.mark.parametrize(
    "change", [{"is_staff": False}, {"is_active": False}], ids=["demoted", "deactivated"]
)
def test_a_staff_members_token_loses_staff_powers_at_once(api_client, change):
    """Staff powers are read from the user on every staff request, not from the token."""
    member = UserFactory(is_staff=True)
    token = str(AccessToken.for_user(member))
    assert api_client.get("/api/v1/admin/invoices", **bearer(token)).status_code == 200
    User.objects.filter(pk=member.pk).update(**change)

    response = api_client.get("/api/v1/admin/invoices", **bearer(token))

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_a_token_is_verified_once_per_process_and_its_expiry_every_time(
    api_client, user, monkeypatch
):
    from accounts.authentication import AccessTokenAuthentication

    verified = []
    verify = AccessTokenAuthentication.get_validated_token
    monkeypatch.setattr(
        AccessTokenAuthentication,
        "get_validated_token",
        lambda self, raw: verified.append(raw) or verify(self, raw),
    )
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        token = str(AccessToken.for_user(user))
        first = api_client.get("/api/v1/user/tokens/balance", **bearer(token))
        again = api_client.get("/api/v1/user/tokens/balance", **bearer(token))
        verified_while_valid = len(verified)
        clock.shift(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] + timedelta(seconds=1))
        expired = api_client.get("/api/v1/user/tokens/balance", **bearer(token))

    assert (first.status_code, again.status_code, expired.status_code) == (200, 200, 401)
    assert verified_while_valid == 1
    # Verified again once expired, not trusted from memory (the balance's common case hands
    # the refused token to DRF, which verifies it once more to answer the 401).
    assert len(verified) > verified_while_valid


def signed_here(claims: dict) -> str:
    """Claims this server never writes, signed with its key: what a service sharing the key,
    or a release that wrote other claims, could have issued."""
    return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")


def test_a_signed_access_token_expiring_past_any_date_is_401_not_500(api_client, user):
    """simplejwt turns `exp` into a datetime after PyJWT checked it: one past year 9999
    raised OverflowError, a 500 for every request carrying it."""
    fund(user, 100)
    token = signed_here({**claims_of(str(AccessToken.for_user(user))), "exp": 10**30})
    before = database_state()

    me = api_client.get(ME, **bearer(token))
    consumed = api_client.post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="k", **bearer(token))

    assert (me.status_code, me.json()["code"]) == (401, NOT_AUTHENTICATED)
    assert (consumed.status_code, consumed.json()["code"]) == (401, NOT_AUTHENTICATED)
    assert database_state() == before


@pytest.mark.parametrize(
    "change",
    [{"user_id": "not-a-uuid"}, {"user_id": ["x"]}, {"exp": 10**30}],
    ids=["user-id-text", "user-id-list", "exp-past-any-date"],
)
def test_a_signed_refresh_token_with_claims_this_server_never_writes_is_401_not_500(
    api_client, user, change
):
    """A refresh token naming its user with something not a UUID reached the user's query,
    whose ValidationError was a 500; one expiring past year 9999 raised OverflowError."""
    refresh = RefreshToken.for_user(user)
    refresh[PASSWORD_CLAIM] = user.get_session_auth_hash()
    token = signed_here({**claims_of(str(refresh)), **change})
    before = database_state()

    response = api_client.post("/api/v1/auth/refresh", {"refresh": token}, format="json")

    assert (response.status_code, response.json()["code"]) == (401, NOT_AUTHENTICATED)
    assert database_state() == before


def test_tokens_verified_once_keep_answering_for_their_own_users(api_client):
    first, second = UserFactory(), UserFactory()
    grant(first, 3)
    grant(second, 5)
    tokens = [str(AccessToken.for_user(first)), str(AccessToken.for_user(second))]

    balances = [
        api_client.get("/api/v1/user/tokens/balance", **bearer(token)).json()["balance"]
        for token in tokens * 3
    ]

    assert balances == [3, 5] * 3


def test_the_access_token_authentication_still_names_the_user_model():
    from accounts.authentication import AccessTokenAuthentication

    assert AccessTokenAuthentication().user_model is User
