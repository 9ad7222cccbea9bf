"""Error pages a person may meet, instead of Django's technical ones."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token (expired page, forged request): 403."""
    return render(request, "pages/csrf_failure.html", status=403)
