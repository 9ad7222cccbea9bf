from __future__ import annotations

from django.http import HttpRequest

from tokens.selectors import Balance, token_balance

# Where a view leaves the balance it read for its page, for the header to show (header_reads).
_READ = "pages_balance"


def header_reads(request: HttpRequest, balance: Balance) -> None:
    """The page's own read of the balance, shown in the header too: read twice, a page paid
    a second query, and a payment landing between the reads drew one balance in the header
    and another beside it."""
    setattr(request, _READ, balance)


def header_balance(request: HttpRequest) -> dict:
    """The balance widget in every page's header: the balance and the tokens that expire next
    (one query, signed-in users only; none when the view read it, header_reads). A request
    the session's user was never attached to (the API's, passed by common.middleware.WebOnly)
    has none: its 404 is drawn from the pages' 404.html before the API turns it into JSON."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/admin/"):
        return {}
    balance = getattr(request, _READ, None) or token_balance(user_id=request.user.pk)
    return {
        "header_balance": balance.balance,
        "header_expiring": balance.expiring[0] if balance.expiring else None,
    }
