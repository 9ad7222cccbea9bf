"""Error pages a person may meet, instead of Django's technical ones."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults

from common.outage import first_line

logger = logging.getLogger(__name__)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token (expired page, forged request): 403."""
    try:
        return render(request, "pages/csrf_failure.html", status=403)
    except DatabaseError as error:
        _drawn_without_database(request, error)
        return HttpResponseForbidden(render_to_string("pages/csrf_failure.html"))


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page."""
    try:
        return defaults.page_not_found(request, exception)
    except DatabaseError as error:
        _drawn_without_database(request, error)
        return HttpResponseNotFound(render_to_string("404.html"))


def _drawn_without_database(request: HttpRequest, error: DatabaseError) -> None:
    """These pages are drawn outside any view, where neither the view nor the busy-database
    middleware answers for a database error, and their header reads the database (the
    session's user, the balance): when it fails there (down, or past its timeouts), each is
    drawn as a visitor's, without the header, rather than as Django's 500 and a traceback."""
    logger.warning(
        "The error page of %s drawn without the database: %s", request.path, first_line(error)
    )
