"""The user: a UUID id and a case-insensitive email as the login."""

from __future__ import annotations

import unicodedata
import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

# Django's own salt for the session hash (AbstractBaseUser.get_session_auth_hash), so that a
# user never deactivated keeps the hash Django gave their sessions and refresh tokens.
SESSION_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str) -> User:
        """Log in whatever the case the address is typed in; the unique index is on lower(email)."""
        return self.alias(email_lower=Lower("email")).get(email_lower=normalize_email(username))


# No address is longer (Django's EmailValidator refuses one that is, and every form and
# serializer here with it).
LONGEST_ADDRESS = 320


def normalize_email(email: str) -> str:
    """One spelling per mailbox: trimmed, NFKC, lower-cased, so that a ligature, a
    fullwidth letter or an accent typed as two code points is the address it looks like;
    and the domain in the one form IDNA gives it, the form mail goes to (Django's mail
    encodes it so): its `xn--` and Unicode spellings, "ß" and "ss", and one with a soft
    hyphen or a zero-width space in it are one domain. Never raises: a domain IDNA refuses
    is kept as it is, and so is one longer than any address (LONGEST_ADDRESS), no one's:
    the sign-in pages count an attempt by the raw `username` before their form refuses it,
    and IDNA's punycode takes time growing with the square of a label's length (a 24 KB
    domain, 20 s of CPU)."""
    compatible = unicodedata.normalize("NFKC", email.strip())
    # NFKC first: it turns some letters lower() leaves alone into capitals (U+210D, U+1D400);
    # again after: lower() can leave a letter and its accent apart (U+0130).
    lowered = unicodedata.normalize("NFKC", compatible.lower())
    local, at, domain = lowered.rpartition("@")
    if not at or len(domain) > LONGEST_ADDRESS:
        return lowered
    try:
        # To the ASCII form and back: nameprep (what IDNA drops, folds and composes), then
        # the Unicode spelling of each label, so that addresses stay readable. Stripped
        # again: what IDNA drops may have stood after a space.
        return f"{local}@{domain.encode('idna').decode('idna')}".strip()
    except UnicodeError:
        return lowered


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    is_staff = models.BooleanField(
        default=False, help_text="Staff can sign in to the admin and use the staff API."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    sessions_ended = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised by each deactivation: sessions and refresh tokens from before it "
        "never work again, also once the user is active again.",
    )

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with this email address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def get_session_auth_hash(self) -> str:
        """What a signed-in page's session and a refresh token carry of the user (Django's
        HMAC of the password hash): it changes with the password, as Django's does, and with
        each deactivation, so what was signed in before one ends for good. The same as
        Django's for a user never deactivated, so their sessions and tokens stay valid."""
        return self._session_hash(secret=None)

    def get_session_auth_fallback_hash(self):
        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(secret=fallback_secret)

    def _session_hash(self, *, secret: str | None) -> str:
        value = self.password
        if self.sessions_ended:
            value = f"{self.password}\x00sessions ended {self.sessions_ended}"
        return salted_hmac(SESSION_HASH_SALT, value, secret=secret, algorithm="sha256").hexdigest()


class ApiKey(models.Model):
    """A secret a seller's backend sends as `Authorization: Bearer tbk_…` to charge usage and
    manage holds for any user. Only a SHA-256 of the secret is kept: the secret is 32 random
    bytes, so a fast hash is as safe as a slow one and costs nothing per request."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=16, help_text="The start of the secret, to tell keys apart."
    )
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class RevokedRefreshToken(models.Model):
    """A refresh token its holder signed out with (`POST /auth/logout`), by its `jti`: it
    refreshes no more. Kept until the token would have expired anyway, then purged
    (jobs.tasks.purge_records); a token is signed, so nothing else needs to be kept."""

    jti = models.CharField(primary_key=True, max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.jti
