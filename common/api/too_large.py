"""413 for a body past the limit, answered before any view runs (ApiMiddleware). The view it
was sent to may need to know: a provider's webhook, whose event that large is refused at
each of its retries and lost, tells its operator (`too_large_refused`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from common.api.errors import json_error


def too_large(request: HttpRequest) -> HttpResponse:
    try:
        view = resolve(request.path_info).func
    except Resolver404:
        view = None
    told = getattr(getattr(view, "view_class", None), "too_large_refused", None)
    if told is not None:
        told(request)
    return json_error(413)
