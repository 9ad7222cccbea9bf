"""Account writes."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from accounts import signals
from accounts.models import User, normalize_email
from common.errors import Invalid

EMAIL_TAKEN = "A user with this email address already exists."


def user_register(*, email: str, password: str) -> User:
    """Create a user who can sign in at once, and announce it (`user_registered`: the tokens
    app grants the trial) in the same transaction.

    Raises Invalid for a taken email (any case; the database's unique index decides, so two
    racing registrations cannot both win) or a password Django's validators refuse.
    """
    email = normalize_email(email)
    try:
        validate_password(password, user=User(email=email))
    except DjangoValidationError as error:
        raise Invalid("password", " ".join(error.messages)) from error
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=email, password=password)
        except IntegrityError as error:
            raise Invalid("email", EMAIL_TAKEN) from error
        signals.user_registered.send(sender=User, user_id=user.pk)
    return user
