"""Account reads."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import authenticate
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import ApiKey, User
from accounts.services import API_KEY_PREFIX, api_key_hash
from common.errors import DomainError, NotFound


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    http_status = 401
    default_message = "The email or password is not right."


class InvalidRefreshToken(DomainError):
    code = "not_authenticated"
    http_status = 401
    default_message = "The refresh token is invalid or has expired; sign in again."


def user_authenticate(*, request: HttpRequest, email: str, password: str) -> User:
    """The active user with these credentials; raises InvalidCredentials otherwise."""
    user = authenticate(request, email=email, password=password)
    if user is None:
        raise InvalidCredentials()
    return user


def token_pair_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def access_token_refresh(*, refresh: str) -> str:
    """A new access token for a valid refresh token of an active user."""
    try:
        token = RefreshToken(refresh)
        user_id = token["user_id"]
    except (TokenError, KeyError) as error:
        raise InvalidRefreshToken() from error
    if not User.objects.filter(pk=user_id, is_active=True).exists():
        raise InvalidRefreshToken()
    return str(token.access_token)


def user_get(*, user_id: object) -> User:
    """Raises common.errors.NotFound."""
    try:
        return User.objects.get(pk=user_id)
    except User.DoesNotExist as error:
        raise NotFound("No user with this id.") from error


API_KEY_TOUCH_EVERY = timedelta(minutes=1)


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The live key with this secret, or None (unknown or revoked): one indexed read, and a
    `last_used_at` write at most once a minute per key."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 128:
        return None
    live = ApiKey.objects.filter(secret_hash=api_key_hash(secret), revoked_at__isnull=True)
    key = live.order_by("pk").first()
    if key is None:
        return None
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_TOUCH_EVERY)
    if key.last_used_at is None or key.last_used_at < now - API_KEY_TOUCH_EVERY:
        ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
    return key


def api_keys_list() -> list[ApiKey]:
    return list(ApiKey.objects.order_by("-created_at"))
