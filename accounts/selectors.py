"""Account reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

from django.contrib.auth import authenticate
from django.contrib.auth.models import Permission
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import ApiKey, RevokedRefreshToken, User, normalize_email
from accounts.services import API_KEY_PREFIX, api_key_hash
from common.db import aware_time, fetched
from common.errors import DomainError, NotFound

# The challenge of every 401 of the API (`WWW-Authenticate`, which RFC 7235 requires on one):
# access tokens and API keys are both sent as `Authorization: Bearer …`, and simplejwt's
# authentication answers the same.
BEARER_CHALLENGE = 'Bearer realm="api"'


class Unauthenticated(DomainError):
    code = "not_authenticated"
    http_status = 401
    auth_header = BEARER_CHALLENGE


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    default_message = "The email or password is not right."


class NotAuthenticated(Unauthenticated):
    default_message = "This account has been deactivated; sign in again."


class InvalidRefreshToken(Unauthenticated):
    default_message = "The refresh token is invalid or has expired; sign in again."


def user_authenticate(*, request: HttpRequest, email: str, password: str) -> User:
    """The active user with these credentials; raises InvalidCredentials otherwise."""
    user = authenticate(request, email=email, password=password)
    if user is None:
        raise InvalidCredentials()
    return user


# A refresh token carries a digest of the password it was signed in with (the session hash:
# an HMAC of the stored password hash under SECRET_KEY, and of how many times the user was
# deactivated), so a new password or a deactivation ends every refresh token issued before
# it, as it ends every other session. Access tokens never carry
# it; they end on their own within 5 minutes.
PASSWORD_CLAIM = "password_digest"


def token_pair_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    access = str(refresh.access_token)
    refresh[PASSWORD_CLAIM] = user.get_session_auth_hash()
    return {"access": access, "refresh": str(refresh)}


def refresh_token_read(refresh: object) -> tuple[RefreshToken, UUID, object]:
    """The token, its user's id and its password digest, if this server signed it and it has
    not expired; raises InvalidRefreshToken otherwise. A signed token with claims this server
    never writes (a `user_id` not a UUID, an `exp` past any date) is as invalid as any other.
    Reads no row."""
    if not isinstance(refresh, str):
        raise InvalidRefreshToken()
    try:
        token = RefreshToken(refresh)
        return token, UUID(str(token["user_id"])), token[PASSWORD_CLAIM]
    except (TokenError, KeyError, ValueError, OverflowError, OSError) as error:
        raise InvalidRefreshToken() from error


def refresh_token_user_id(*, refresh: object) -> UUID | None:
    """The user a refresh token this server signed was issued to, or None for anything else
    (expired, not signed by this server, not a refresh token). Whether that user may still
    refresh (active, same password) is access_token_refresh's to say: this only tells whose
    refresh it is, for its rate limit, and reads no row."""
    try:
        return refresh_token_read(refresh)[1]
    except InvalidRefreshToken:
        return None


def access_token_refresh(*, refresh: str) -> str:
    """A new access token for a valid refresh token, not signed out with (`auth/logout`), of
    an active user whose password has not changed since the token was issued: one read.
    Raises InvalidRefreshToken."""
    token, user_id, digest = refresh_token_read(refresh)
    revoked = RevokedRefreshToken.objects.filter(jti=str(token[api_settings.JTI_CLAIM]))
    user = (
        User.objects.filter(pk=user_id, is_active=True)
        .annotate(revoked=Exists(revoked))
        .only("password", "sessions_ended")
        .first()
    )
    if user is None or user.revoked or not isinstance(digest, str):
        raise InvalidRefreshToken()
    if not constant_time_compare(digest, user.get_session_auth_hash()):
        raise InvalidRefreshToken()
    access = token.access_token
    del access[PASSWORD_CLAIM]
    return str(access)


def is_staff_now(*, user_id: object) -> bool:
    """Whether this user is an active staff member at this moment: one indexed read."""
    return User.objects.filter(pk=user_id, is_active=True, is_staff=True).exists()


def staff_may(*, user_id: object, permission: str) -> bool:
    """Whether this active staff member may do what `permission` ("app_label.codename")
    guards, in the staff API as in the admin: one read.

    A superuser may do everything. A staff member given no permission at all (neither
    directly nor through a group) is the contract's staff, for whom `is_staff` is enough, and
    may too. A staff member given permissions has a role, the one the admin already holds
    them to (a support agent who may only view invoices), and may only with this one: the
    staff API no longer lets them refund or mark paid what the admin does not. A view
    permission is also granted by the same model's change permission, as the admin's
    `has_view_permission` grants it."""
    app_label, codename = permission.split(".", 1)
    codenames = [codename]
    if codename.startswith("view_"):
        codenames.append("change_" + codename.removeprefix("view_"))
    granted = Permission.objects.filter(Q(user=OuterRef("pk")) | Q(group__user=OuterRef("pk")))
    found = (
        User.objects.filter(pk=user_id, is_active=True, is_staff=True)
        .annotate(
            has_role=Exists(granted),
            has_permission=Exists(
                granted.filter(content_type__app_label=app_label, codename__in=codenames)
            ),
        )
        .values_list("is_superuser", "has_role", "has_permission")
        .first()
    )
    if found is None:
        return False
    is_superuser, has_role, has_permission = found
    return is_superuser or not has_role or has_permission


def active_user_get(*, user_id: object) -> User:
    """The user behind a valid access token, if still active. Raises NotAuthenticated."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotAuthenticated()
    return user


def user_exists(*, user_id: object) -> bool:
    return User.objects.filter(pk=user_id).exists()


def user_ids_with_email(*, email: str) -> list[UUID]:
    """The id of the user with this address, whatever its case or spelling (normalize_email),
    or none: one read of the unique index on lower(email)."""
    users = User.objects.alias(email_lower=Lower("email"))
    return list(users.filter(email_lower=normalize_email(email)).values_list("pk", flat=True))


def user_emails(*, user_ids: Iterable[object]) -> dict[str, str]:
    """Each existing user's email by their id (as text): for staff pages that name users a
    record keeps only by id. One read of the primary key."""
    users = User.objects.filter(pk__in=list(user_ids)).values_list("pk", "email")
    return {str(pk): email for pk, email in users}


def user_get(*, user_id: object) -> User:
    """Raises common.errors.NotFound."""
    try:
        return User.objects.get(pk=user_id)
    except User.DoesNotExist as error:
        raise NotFound("No user with this id.") from error


API_KEY_TOUCH_EVERY = timedelta(minutes=1)


# On every request of a seller's backend, so plain SQL (the ORM's query building cost more
# than the read).
_KEY_FIELDS = ApiKey._meta.concrete_fields
_KEY_COLUMNS = [field.attname for field in _KEY_FIELDS]
_KEY_TIMES = {"created_at", "last_used_at", "revoked_at"}
_LIVE_KEY_SQL = (
    f"SELECT {', '.join(_KEY_COLUMNS)} FROM {ApiKey._meta.db_table} "  # noqa: S608
    "WHERE secret_hash = %s AND revoked_at IS NULL"
)


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The live key with this secret, or None (unknown or revoked): one indexed read, and a
    `last_used_at` write at most once a minute per key."""
    key = api_key_live(secret=secret)
    if key is None:
        return None
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_TOUCH_EVERY)
    if key.last_used_at is None or key.last_used_at < now - API_KEY_TOUCH_EVERY:
        ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
    return key


def api_key_live(*, secret: str) -> ApiKey | None:
    """The live key with this secret, or None, without marking it used: for a request that
    is refused whatever the key. The read runs on psycopg's connection (`fetched`), as the
    other hot statements do (docs/decisions.md, Speed)."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 128:
        return None
    rows = fetched(_LIVE_KEY_SQL, [api_key_hash(secret)])
    if not rows:
        return None
    (row,) = rows
    # As the ORM would give them on SQLite too, which returns times and ids as text.
    values = [
        aware_time(value) if column in _KEY_TIMES else field.to_python(value)
        for column, field, value in zip(_KEY_COLUMNS, _KEY_FIELDS, row, strict=True)
    ]
    return ApiKey.from_db(DEFAULT_DB_ALIAS, _KEY_COLUMNS, values)


def api_keys_list() -> QuerySet[ApiKey]:
    """Newest first, keys made in the same instant by id, so a page never repeats or skips
    one. A queryset, which the page slices in the database (a list loaded every key to
    answer one page: 50,000 keys, about 2.7 s)."""
    return ApiKey.objects.order_by("-created_at", "-id")
