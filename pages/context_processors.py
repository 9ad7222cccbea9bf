from __future__ import annotations

from django.http import HttpRequest

from tokens.selectors import token_balance


def header_balance(request: HttpRequest) -> dict:
    """The balance widget in every page's header: the balance and the tokens that expire next
    (one query, signed-in users only). A request the session's user was never attached to
    (the API's, passed by common.middleware.WebOnly) has none: its 404 is drawn from the
    pages' 404.html before the API turns it into JSON."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/admin/"):
        return {}
    balance = token_balance(user_id=request.user.pk)
    return {
        "header_balance": balance.balance,
        "header_expiring": balance.expiring[0] if balance.expiring else None,
    }
