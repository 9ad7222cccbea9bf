"""Error pages a person may meet, instead of Django's technical ones."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults

logger = logging.getLogger(__name__)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token (expired page, forged request): 403."""
    return render(request, "pages/csrf_failure.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page, whose header reads the database (the session's user, the balance)
    outside any view: when the database fails there (down, or past its timeouts), the same
    404 page as a visitor's, without the header, rather than Django's 500 and a traceback."""
    try:
        return defaults.page_not_found(request, exception)
    except DatabaseError as error:
        logger.warning("The 404 page of %s drawn without the database: %s", request.path, error)
        return HttpResponseNotFound(render_to_string("404.html"))
