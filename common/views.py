"""Small views outside the API: health (for load balancers and HEALTHCHECK), metrics (for
Prometheus), the favicon."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from common import metrics as operator_metrics
from common.api.throttling import CACHE_ERRORS
from common.outage import first_line, warn_database_error

logger = logging.getLogger(__name__)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 while the database answers, 503 when it does not.

    With a shared cache (REDIS_URL), `cache` says whether it answers. A cache that does not
    leaves the answer 200 with `status: degraded`: the service still works (rate limits fail
    open), and every instance shares that Redis, so a 503 would take them all out of a load
    balancer at once.
    """
    body = {"status": "ok", "database": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        warn_database_error(logger, "Health check: the database did not answer", error)
        body.update(status="error", database="error")
    if settings.REDIS_URL:
        try:
            cache.has_key("health")
            body["cache"] = "ok"
        except CACHE_ERRORS as error:
            # One line: probes come every few seconds, and the error names what failed.
            logger.warning("Health check: the cache did not answer: %s", first_line(error))
            body["cache"] = "error"
            if body["status"] == "ok":
                body["status"] = "degraded"
    response = JsonResponse(body, status=503 if body["database"] == "error" else 200)
    # A database down is the warning above, once per probe: not Django's error line too.
    response._has_been_logged = True
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for loopback clients or the bearer of METRICS_TOKEN (403 for
    anyone else). A request that came through a proxy (it carries any of PROXY_HEADERS) is
    not a loopback client, though a proxy on this machine connects from loopback: every
    client on the internet read /metrics through it."""
    if not _may_read_metrics(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    body, content_type = operator_metrics.exposition()
    return HttpResponse(body, content_type=content_type)


# Headers a proxy adds for the client it forwards. Not X-Forwarded-For alone: nginx's usual
# block names the client in X-Real-IP, and a TLS proxy sends the X-Forwarded-Proto this
# service needs (SECURE_PROXY_SSL_HEADER), either without X-Forwarded-For.
PROXY_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
)


def _may_read_metrics(request: HttpRequest) -> bool:
    proxied = any(name in request.META for name in PROXY_HEADERS)
    try:
        if not proxied and ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback:
            return True
    except ValueError:
        pass
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on every page, the admin's too."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
