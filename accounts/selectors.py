"""Account reads."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.http import HttpRequest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
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
