from __future__ import annotations

from django.http import HttpRequest

from tokens.selectors import token_balance


def header_balance(request: HttpRequest) -> dict:
    """The balance widget in every page's header: the balance and the tokens that expire next
    (one query, signed-in users only)."""
    if not request.user.is_authenticated or request.path.startswith("/admin/"):
        return {}
    balance = token_balance(user_id=request.user.pk)
    return {
        "header_balance": balance.balance,
        "header_expiring": balance.expiring[0] if balance.expiring else None,
    }
