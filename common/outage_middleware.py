"""The pages' and the API's answer when the database gave up waiting or could not be
reached, outside DRF's views (which answer the same through `common.api.errors`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from common.api.errors import busy_body, busy_retry_after, unavailable_body
from common.db import database_busy
from common.middleware import API_PREFIX
from common.outage import (
    RETRY_AFTER_SECONDS,
    database_unavailable,
    first_line,
    warn_database_error,
)

logger = logging.getLogger("common.api")


class DatabaseBusyMiddleware:
    """A database that gave up waiting (a lock or statement timeout) or could not be reached
    (down, restarting) outside DRF's views: 503 with Retry-After, in the contract's shape
    (`busy`, `unavailable`) under `/api/` and to a page's script that asked for JSON, and as
    a short page elsewhere, with one warning line and no traceback. A busy request's
    transaction rolled back: nothing was done. (DRF's views answer the same through
    `common.api.errors`.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if database_busy(exception):
            logger.warning(
                "The database gave up waiting on %s %s, answered 503 busy: %s",
                request.method,
                request.path,
                first_line(exception),
            )
            retry_after, body, page = busy_retry_after(), busy_body(), "busy.html"
        elif database_unavailable(exception):
            warn_database_error(
                logger,
                f"The database could not be reached on {request.method} {request.path},"
                " answered 503",
                exception,
            )
            retry_after, body, page = RETRY_AFTER_SECONDS, unavailable_body(), "unavailable.html"
        else:
            return None
        if _wants_json(request):
            response = JsonResponse(body, status=503)
        else:
            context = {"retry_after": retry_after}
            response = HttpResponse(render_to_string(page, context), status=503)
        response["Retry-After"] = str(retry_after)
        # The request's line is the warning above: not Django's "Service Unavailable" error
        # too, which would page at night for a request that asked its client to retry.
        response._has_been_logged = True
        return response


def _wants_json(request: HttpRequest) -> bool:
    """The API, and a page's script that asked for JSON (site.js's polls of the balance and
    the receipt send `Accept: application/json`): given the busy or unavailable page, the
    script could not read it. A browser's navigation prefers HTML, and a request that says
    nothing gets the page."""
    if request.path_info.startswith(API_PREFIX):
        return True
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"
