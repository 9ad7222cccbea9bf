"""Who calls the API: a person with an access token (a JWT), or a seller's backend with an
API key (`Bearer tbk_…`), allowed on the views that say so."""

from __future__ import annotations

import time
from uuid import UUID

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from accounts.models import ApiKey
from accounts.selectors import BEARER_CHALLENGE, api_key_authenticate, api_key_live, is_staff_now
from accounts.services import API_KEY_PREFIX


class Caller:
    """The person behind a valid access token, known from its claims alone: authentication
    reads no row. The token was issued to an active user at most ACCESS_TOKEN_LIFETIME ago
    (5 minutes), and refreshing it reads the user again, so a deactivated user keeps a
    token's access to their own account for at most that long (docs/api.md, Auth).

    Staff powers are not trusted to the token: `is_staff` reads the user's row the first
    time a request asks, so removing them, or deactivating a staff member, takes the staff
    endpoints away at once."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_superuser = False

    def __init__(self, user_id: UUID) -> None:
        self.pk = self.id = user_id

    @property
    def is_staff(self) -> bool:
        if not hasattr(self, "_is_staff"):
            self._is_staff = is_staff_now(user_id=self.pk)
        return self._is_staff

    def __str__(self) -> str:
        return f"user {self.pk}"


# Access tokens this process has verified, by their exact bytes, with their expiry and the
# user their claims name: the same bytes carry the same claims, so only the expiry needs
# checking again. Emptied when full.
VERIFIED_KEPT = 10_000
verified_tokens: dict[bytes, tuple[Token, float, UUID]] = {}


class AccessTokenAuthentication(JWTAuthentication):
    """simplejwt's verification of the token (signature, algorithm, expiry, type), then the
    caller from its `user_id` claim instead of a query for the user. A token already verified
    in this process is not verified again until it expires (an SPA sends the same token for
    its 5 minutes): the signature check was a tenth of a consume."""

    def __init__(self) -> None:
        """Without simplejwt's look-up of the user model for every request's instance: the
        caller comes from the claims alone, and `user_model` is looked up only if asked."""

    @property
    def user_model(self) -> type:
        return get_user_model()

    def authenticate(self, request: Request) -> tuple[Caller, Token] | None:
        header = self.get_header(request)
        raw_token = None if header is None else self.get_raw_token(header)
        if raw_token is None:
            return None
        known = verified_tokens.get(raw_token)
        if known is not None and known[1] > time.time():
            return Caller(known[2]), known[0]
        validated = self.get_validated_token(raw_token)
        caller = self.get_user(validated)
        if len(verified_tokens) >= VERIFIED_KEPT:
            verified_tokens.clear()
        verified_tokens[raw_token] = (validated, validated["exp"], caller.pk)
        return caller, validated

    def get_raw_token(self, header: bytes) -> bytes | None:
        """simplejwt's, with the scheme read case-insensitively as HTTP has it (RFC 9110,
        11.1) and as ApiKeyAuthentication reads it: simplejwt took only `Bearer`, and a
        client sending `bearer` was answered 401 as if it had sent no token."""
        if not header.startswith(b"Bearer "):  # the usual spelling costs one comparison
            parts = header.split()
            if parts and parts[0].lower() == b"bearer":
                header = b" ".join([b"Bearer", *parts[1:]])
        return super().get_raw_token(header)

    def get_validated_token(self, raw_token: bytes) -> Token:
        """simplejwt's, and a 401 for a signed token whose `exp` is past any date Python
        holds: simplejwt's check of it raised OverflowError."""
        try:
            return super().get_validated_token(raw_token)
        except (OverflowError, ValueError, OSError) as error:
            raise InvalidToken("The token's expiry is not a time.") from error

    def get_user(self, validated_token: Token) -> Caller:
        try:
            return Caller(UUID(str(validated_token[api_settings.USER_ID_CLAIM])))
        except (KeyError, ValueError) as error:
            raise InvalidToken("The token names no user.") from error


class Service:
    """The caller behind an API key. It is no user: `is_staff` is False, and its `pk` (the
    key's id) scopes its idempotency keys and rate limits."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    # Counted at THROTTLE_SERVICE, not THROTTLE_USER (common.api.throttling.UserThrottle):
    # one key carries a seller's traffic for all of its users.
    throttle_scope = "service"

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.pk = self.id = key.pk

    def __str__(self) -> str:
        return f"service {self.key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    """Answers for bearer tokens that start with `tbk_` (JWTs never do) and leaves the rest to
    the JWT authentication. A view opts in with `service_keys_allowed = True`; any other view
    refuses a valid key with 403. An unknown or revoked key is 401 on every view, as the
    contract says: a seller whose key was revoked learns that, not that the key lacks a power."""

    def authenticate(self, request: Request) -> tuple[Service, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        secret = parts[1].decode("latin-1")
        if not secret.startswith(API_KEY_PREFIX):
            return None
        view = request.parser_context.get("view") if request.parser_context else None
        allowed = getattr(view, "service_keys_allowed", False)
        key = api_key_authenticate(secret=secret) if allowed else api_key_live(secret=secret)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is unknown or has been revoked.")
        if not allowed:
            raise exceptions.PermissionDenied(
                "An API key may call only the usage and hold endpoints under "
                "/api/v1/users/{user_id}/."
            )
        return Service(key), key

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE
