"""The API's error handler: common's, and a 401 for a signed-in person whose account is gone."""

from __future__ import annotations

from django.db import IntegrityError
from rest_framework.response import Response

from accounts.authentication import Caller
from accounts.selectors import Unauthenticated, user_exists
from common.api.errors import api_exception_handler as common_exception_handler


class AccountGone(Unauthenticated):
    default_message = "This account no longer exists; nothing was done."


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """common.api.errors' handler, after one case only accounts can recognise.

    Authentication trusts an access token's claims and reads no user (Caller), so a token of
    a user deleted since it was issued (with a shell or psql: the admin deletes none) still
    reaches the views, and a write that records something of theirs fails on the database's
    foreign key to the user as it commits: a 500. It is the 401 of a token that names no
    user. The user is read only on this error path, never per request."""
    if isinstance(exc, IntegrityError):
        caller = getattr(context.get("request"), "user", None)
        if isinstance(caller, Caller) and not user_exists(user_id=caller.pk):
            exc = AccountGone()
    return common_exception_handler(exc, context)
