"""What several pages share: throttled forms and JSON answers for polling requests."""

from __future__ import annotations

from functools import wraps

from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from common.api.throttling import FormThrottle


def throttled(view):
    """THROTTLE_AUTH per client address on POSTs, as the API's auth endpoints have it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = FormThrottle()
        if request.method == "POST" and not throttle.allow_request(request, None):
            wait = int(throttle.wait())
            return render(request, "pages/too_many.html", {"wait": wait}, status=429)
        return view(request, *args, **kwargs)

    return wrapper


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


def paginated(request: HttpRequest, items: QuerySet, number: int | None) -> dict:
    """Page `number` (from 1) of 50 and the query string without `page`, for the pager.

    Raises Http404 past the last page."""
    try:
        page: Page = Paginator(items, PAGE_SIZE).page(number or 1)
    except EmptyPage as error:
        raise Http404("No such page.") from error
    query = request.GET.copy()
    query.pop("page", None)
    return {"page": page, "query": query.urlencode()}
