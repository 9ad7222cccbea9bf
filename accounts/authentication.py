"""`Authorization: Bearer tbk_…`: a seller's backend, allowed on the views that say so."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.selectors import api_key_authenticate
from accounts.services import API_KEY_PREFIX


class Service:
    """The caller behind an API key. It is no user: `is_staff` is False, and its `pk` (the
    key's id) scopes its idempotency keys and rate limits."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.pk = self.id = key.pk

    def __str__(self) -> str:
        return f"service {self.key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    """Answers for bearer tokens that start with `tbk_` (JWTs never do) and leaves the rest to
    the JWT authentication. A view opts in with `service_keys_allowed = True`; any other view
    refuses a key with 403."""

    def authenticate(self, request: Request) -> tuple[Service, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        secret = parts[1].decode("latin-1")
        if not secret.startswith(API_KEY_PREFIX):
            return None
        view = request.parser_context.get("view") if request.parser_context else None
        if not getattr(view, "service_keys_allowed", False):
            raise exceptions.PermissionDenied(
                "An API key may call only the usage and hold endpoints under "
                "/api/v1/users/{user_id}/."
            )
        key = api_key_authenticate(secret=secret)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is unknown or has been revoked.")
        return Service(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
