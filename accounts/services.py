"""Account writes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import signals
from accounts.models import ApiKey, RevokedRefreshToken, User, normalize_email
from common.api.throttling import SignInThrottle
from common.audit import staff_action_record
from common.db import require_transaction
from common.errors import DomainError, Invalid, InvalidFields, NotFound
from common.text import trimmed

EMAIL_TAKEN = "A user with this email address already exists."
EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length

# A user who holds powers: staff status, superuser status, a role (a group) or permissions
# of their own. Only a superuser changes another such user (accounts.admin.users.UserAdmin).
HOLDS_POWERS = (
    Q(is_staff=True)
    | Q(is_superuser=True)
    | Q(groups__isnull=False)
    | Q(user_permissions__isnull=False)
)


class HoldsPowers(DomainError):
    """A change by a staff member who is no superuser to another user who holds powers,
    found so with the user's row locked: given them while the change was on its way, after
    the admin's own check."""

    code = "permission_denied"
    http_status = 403
    default_message = (
        "Nothing was saved: this user was given powers meanwhile (staff, superuser, a role "
        "or permissions), and only a superuser may change them now."
    )


def user_register(*, email: str, password: str) -> User:
    """Create a user who can sign in at once, and announce it (`user_registered`: the tokens
    app grants the trial) in the same transaction.

    Raises Invalid for a taken email (any case or Unicode form; the database's unique index
    decides, so two racing registrations cannot both win), one longer than 254 characters
    once normalized (lower-casing can lengthen it), one that is no valid address once
    normalized (a Turkish "İ" lowers to "i" and a combining dot; an accent typed alone in the
    domain is a space once NFKC: stored so, the login, the sign-in page and the admin refused
    the address the user was shown), or a password Django's validators refuse: all of
    them at once (InvalidFields), a taken email with a refused password too.
    """
    email = normalize_email(email)
    refused: dict[str, list[str]] = {}
    if len(email) > EMAIL_MAX_LENGTH:
        refused["email"] = [f"Ensure this field has no more than {EMAIL_MAX_LENGTH} characters."]
    else:
        try:
            validate_email(email)
        except DjangoValidationError as error:
            refused["email"] = error.messages
    if password_refused := password_refusals(password=password, email=email):
        refused["password"] = password_refused
        # Named with the password's, so a sign-up form shows both at once; the unique index
        # still decides when the password passes.
        if "email" not in refused and User.objects.filter(email__iexact=email).exists():
            refused = {"email": [EMAIL_TAKEN], **refused}
    if refused:
        raise InvalidFields(refused)
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=email, password=password)
        except IntegrityError as error:
            raise Invalid("email", EMAIL_TAKEN) from error
        user_created_announce(user_id=user.pk)
    return user


def password_refusals(*, password: str, email: str) -> list[str]:
    """What Django's password validators say against `password` for a user of `email` (none:
    it passes). Asked also when the email is refused, so that a sign-up names both."""
    try:
        validate_password(password, user=User(email=email))
    except DjangoValidationError as error:
        return error.messages
    return []


def user_created_announce(*, user_id: UUID) -> None:
    """Announces a new user (`user_registered`: the tokens app grants the trial), however
    they were made: by registering or by staff in the admin. Part of the transaction that
    created the user, so a receiver that raises undoes the user too; raises RuntimeError
    outside one."""
    require_transaction("user_created_announce")
    signals.user_registered.send(sender=User, user_id=user_id)


def users_deactivate(*, queryset: QuerySet[User], actor_id: UUID | None = None) -> int:
    """Deactivates the active users among `queryset`. Returns how many were active. The
    database ends their sessions for good (accounts/migrations/0006: each deactivation
    raises `sessions_ended`, whoever writes it, psql included): signed-in pages and refresh
    tokens carry the session hash, which that changes (User.get_session_auth_hash), so they
    stay ended when the user is active again. Access tokens are trusted on their claims for
    their 5 minutes and end on their own. `actor_id` is recorded on each (common.audit)."""
    return _users_set_active(queryset, active=False, actor_id=actor_id, message="Deactivated.")


def users_activate(*, queryset: QuerySet[User], actor_id: UUID | None = None) -> int:
    """Activates the inactive users among `queryset`: they can sign in again. Returns how
    many were inactive. Sessions and refresh tokens from before their deactivation stay
    ended (users_deactivate): activating lowers nothing the database raised."""
    return _users_set_active(queryset, active=True, actor_id=actor_id, message="Activated.")


@transaction.atomic
def _users_set_active(
    queryset: QuerySet[User], *, active: bool, actor_id: UUID | None, message: str
) -> int:
    """Locks the users it changes (in id order), so the record names exactly those whose
    state it changed: one changed meanwhile by someone else is not recorded twice. FOR NO
    KEY UPDATE, as the UPDATE itself: FOR UPDATE also waited for every row naming one of
    them, a History row of a staff member among them included, who, deactivating a user of
    this batch at the same time, waited for this in turn (a deadlock). Leaves out, once
    locked, those `actor_id` may not change (_held_from): `queryset` left them out as it
    was read, before a grant it waited for."""
    locked = list(
        User.objects.filter(
            pk__in=queryset.filter(is_active=not active).values("pk"), is_active=not active
        )
        .order_by("pk")
        .select_for_update(no_key=True)
    )
    held = _held_from(actor_id=actor_id, user_ids=[user.pk for user in locked])
    changing = [user for user in locked if user.pk not in held]
    User.objects.filter(pk__in=[user.pk for user in changing]).update(is_active=active)
    staff_action_record(actor_id=actor_id, instances=changing, message=message)
    return len(changing)


def user_password_set(*, user: User, password: str | None, actor_id: UUID | None = None) -> None:
    """Gives `user` a new password (None: none that works, as the admin's "Disabled"),
    writing that column alone: a page holds the user it read at the start of the request,
    and saving all of it wrote its `is_active` back over a deactivation made meanwhile (staff
    in the admin as the user's password changed), undoing it. The new password ends the
    user's other sessions and refresh tokens (User.get_session_auth_hash). `actor_id`: the
    staff member who sets it for another user (None: the user themselves).

    Raises NotFound, writing nothing, for a user deleted since the page read them (with psql
    or a shell: the admin deletes none): Django's save of a row that is gone was a 500.
    Raises HoldsPowers, writing nothing, for a user `actor_id` may not change (_held_from):
    a password set by a staff member who knows it is their way into the user's powers."""
    user.set_password(password)
    with transaction.atomic():
        if not User.objects.select_for_update().filter(pk=user.pk).exists():
            raise NotFound("This user no longer exists.")
        if _held_from(actor_id=actor_id, user_ids=[user.pk]):
            raise HoldsPowers()
        user.save(update_fields=["password"])


def user_lock_for_change(*, user_id: UUID, actor_id: UUID) -> None:
    """Locks the user `actor_id` is about to change on the admin's change page, in the
    caller's transaction, and raises HoldsPowers if `actor_id` may not change them
    (_held_from). Raises NotFound for a user deleted meanwhile; RuntimeError outside a
    transaction. FOR NO KEY UPDATE, as the change's UPDATE itself: FOR UPDATE also waited
    for every row naming the user, the History row of a superuser changing this one's own
    page of them at the same moment included, which waited for this in turn (a deadlock)."""
    require_transaction("user_lock_for_change")
    if not User.objects.select_for_update(no_key=True).filter(pk=user_id).exists():
        raise NotFound("This user no longer exists.")
    if _held_from(actor_id=actor_id, user_ids=[user_id]):
        raise HoldsPowers()


def _held_from(*, actor_id: UUID | None, user_ids: list[UUID]) -> set[UUID]:
    """Those of `user_ids` whom `actor_id` may not change: other users who hold powers,
    unless `actor_id` is a superuser (None, the system or the user themselves, may change
    anyone). The caller has locked their rows, as a superuser's change page does before
    giving powers: the admin's check, read without a lock at the start of the request, let a
    change through to a user given powers while it was on its way."""
    if actor_id is None or not user_ids:
        return set()
    if User.objects.filter(pk=actor_id, is_superuser=True).exists():
        return set()
    held = User.objects.filter(HOLDS_POWERS, pk__in=user_ids).exclude(pk=actor_id)
    return set(held.values_list("pk", flat=True))


def refresh_token_revoke(*, token: RefreshToken) -> None:
    """Signs out with a refresh token (`POST /auth/logout`): it refreshes no more, while the
    user's other refresh tokens (other devices) go on. Revoking one again, or one that no
    longer refreshes (a new password, a deactivation), changes nothing more. Access tokens
    already issued from it are trusted on their claims for their 5 minutes and end on their
    own. `token` is one this server signed and that has not expired
    (selectors.refresh_token_read)."""
    revoked = RevokedRefreshToken(
        jti=str(token[api_settings.JTI_CLAIM]),
        expires_at=datetime.fromtimestamp(token["exp"], tz=UTC),
    )
    RevokedRefreshToken.objects.bulk_create([revoked], ignore_conflicts=True)


def revoked_refresh_tokens_purge(*, now: datetime) -> int:
    """Forgets the revoked refresh tokens that have expired by `now` (they refresh nothing
    anyway); returns how many."""
    deleted, _ = RevokedRefreshToken.objects.filter(expires_at__lte=now).delete()
    return deleted


def sign_in_attempt_count(*, email: str) -> float | None:
    """Counts an attempt to sign in as `email`, in the one count per email address that the
    API's login, the sign-in page and /admin/login/ share (THROTTLE_AUTH), with the
    signed-in user's guesses at their current password on the password forms, before its
    password is checked. Returns None when the attempt may go on, else the seconds until it
    may: the caller refuses it (429) without checking the password."""
    throttle = SignInThrottle(normalize_email(email))
    if throttle.allow_request(None, None):
        return None
    return throttle.wait()


# Service API keys: created by staff, shown once, stored as a hash, revoked at once.

API_KEY_PREFIX = "tbk_"
SHOWN_PREFIX_LENGTH = 12


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str


def api_key_hash(secret: str) -> str:
    """SHA-256: the secret is 32 random bytes, so a fast hash is as safe as a slow one."""
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, name: str, actor_id: UUID | None) -> NewApiKey:
    """A new key; its secret is in the answer and nowhere else. `actor_id` is recorded as
    its creator and in its History (common.audit), whichever door it came through: the
    admin's add page writes no record of its own (ApiKeyAdmin.log_addition). Raises Invalid
    for a name that is blank (whitespace and invisible characters only) or longer than 100
    characters."""
    name = trimmed(name)
    if not 0 < len(name) <= 100:
        raise Invalid("name", "A name of 1 to 100 characters is required.")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name,
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            secret_hash=api_key_hash(secret),
            created_by_id=actor_id,
        )
        staff_action_record(actor_id=actor_id, instances=[key], message="Added.", action="add")
    return NewApiKey(key=key, secret=secret)


def api_key_revoke(*, key_id: UUID, actor_id: UUID | None = None) -> bool:
    """Revokes a key: its next request is refused. Revoking again changes nothing and records
    nothing; `actor_id` is recorded with the revocation (common.audit). Returns whether this
    call revoked it (False: it was revoked already), so the admin says what it did. Raises
    NotFound."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(pk=key_id).first()
        if key is None:
            raise NotFound("No API key with this id.")
        if key.revoked_at is not None:
            return False
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        staff_action_record(actor_id=actor_id, instances=[key], message="Revoked.")
    return True
