"""What several pages share: throttled forms and JSON answers for polling requests."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import wraps

from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.utils.functional import cached_property

from accounts.services import sign_in_attempt_count
from common.api.throttling import FormThrottle, ReceiptThrottle


def throttled(view):
    """THROTTLE_AUTH per client address on POSTs, as the API's auth endpoints have it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = FormThrottle()
        if request.method == "POST" and not throttle.allow_request(request, None):
            return _too_many(request, throttle.wait())
        return view(request, *args, **kwargs)

    return wrapper


def receipt_throttled(view):
    """THROTTLE_RECEIPTS per signed-in user, on every GET: each PDF is drawn anew. A HEAD
    draws nothing (billing.receipts.receipt_answer), so it is not counted."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = ReceiptThrottle()
        if request.method != "HEAD" and not throttle.allow_request(request, None):
            return _too_many(request, throttle.wait())
        return view(request, *args, **kwargs)

    return wrapper


def sign_in_throttled(view):
    """`throttled`, and THROTTLE_AUTH per email address (the form's `username`): attempts to
    sign in as one address count once, here, at /admin/login/ and at the API's login."""

    @throttled
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            wait = sign_in_attempt_count(email=request.POST.get("username", ""))
            if wait is not None:
                return _too_many(request, wait)
        return view(request, *args, **kwargs)

    return wrapper


def password_guess_counted(view):
    """THROTTLE_AUTH per account on a form that checks the signed-in user's current password
    (the account page's, the admin's /admin/password_change/): each POST counts as an
    attempt to sign in as the user, in the count the sign-ins share
    (accounts.services.sign_in_attempt_count). Counted per client address only, whoever held
    a stolen session guessed the current password from many addresses and, once right,
    changed it and kept the account. Past the limit the form is not looked at, the right
    password included. Put inside the view's sign-in check: only a signed-in user counts."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST" and request.user.is_authenticated:
            wait = sign_in_attempt_count(email=request.user.email)
            if wait is not None:
                return _too_many(request, wait)
        return view(request, *args, **kwargs)

    return wrapper


def _too_many(request: HttpRequest, wait: float) -> HttpResponse:
    """The page says how long to wait, and `Retry-After` says it as the API's 429 does, in
    whole seconds rounded up: a client that waits that long is not refused again."""
    seconds = max(math.ceil(wait), 1)
    response = render(request, "pages/too_many.html", {"wait": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def form_action(page: str):
    """POST acts; GET and HEAD go to `page` (the URL name of the page the form is on, with
    the view's URL arguments), which acts on nothing. A form sent after the session ended
    is sent to sign in with this address as `next`, which the browser then asks for with
    GET: Django's require_POST answered that with a bare 405, so the customer who signed in
    again saw the browser's "This page isn't working" instead of the page to press again."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in ("GET", "HEAD"):
                return redirect(page, *args, **kwargs)
            if request.method != "POST":
                return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def json_login_required(view):
    """401 JSON instead of a redirect, for the pages' polling requests."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse(
                {"error": "Sign in again.", "code": "not_authenticated"}, status=401
            )
        return view(request, *args, **kwargs)

    return wrapper


PAGE_SIZE = 50


class CountedPaginator(Paginator):
    """Django's Paginator told how many items there are, when something cheaper than a
    COUNT(*) over them knows (a ledger's entry count)."""

    def __init__(self, object_list: QuerySet, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count


def paginated(
    request: HttpRequest,
    items: QuerySet,
    number: int | None,
    *,
    count: int | None = None,
    kept: Mapping[str, object] | None = None,
) -> dict:
    """Page `number` (from 1) of 50; the query string without `page` and `kept` (for the
    list's other links, an export), and that with `kept` (what holds the list as the page
    read it) set in it, for the pager's links. `count`, when known, spares a COUNT(*) over
    `items`.

    Raises Http404 past the last page."""
    paginator = (
        Paginator(items, PAGE_SIZE)
        if count is None
        else CountedPaginator(items, PAGE_SIZE, count=count)
    )
    try:
        page: Page = paginator.page(number or 1)
    except EmptyPage as error:
        raise Http404("No such page.") from error
    query = request.GET.copy()
    kept = kept or {}
    for name in ("page", *kept):
        query.pop(name, None)
    pager_query = query.copy()
    for name, value in kept.items():
        pager_query[name] = str(value)
    return {"page": page, "query": query.urlencode(), "pager_query": pager_query.urlencode()}
