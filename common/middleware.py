"""The edge: request ids and access lines for everything; for `/api/`, an optional trailing
slash, the body size limit, and JSON for every error."""

from __future__ import annotations

import codecs
import logging
import re
import time
import uuid
from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from common import metrics
from common.api.errors import json_error
from common.api.request_headers import give_request_headers
from common.api.too_large import too_large
from common.log import current_request
from common.views import health
from common.views import metrics as metrics_view

logger = logging.getLogger("common.api")

API_PREFIX = "/api/"
VERSIONED_PREFIX = "/api/v1/"
# Below gunicorn's own limits (config/gunicorn.py), so that for anything up to those this
# answers, in JSON, rather than gunicorn with an HTML page.
MAX_URL_LENGTH = 4096
MAX_HEADER_LENGTH = 8192
MAX_HEADER_COUNT = 100
# What an answer to a request with credentials says to caches when its view said nothing: no
# ETag or Last-Modified exists for these to revalidate by, so nothing is kept at all.
PRIVATE_ANSWER = "private, no-store"


class HealthProbeMiddleware:
    """Answers `GET /health` and `GET /metrics` before anything reads the Host header. Load
    balancers and the image's HEALTHCHECK probe an instance by its address, and Prometheus
    scrapes each instance by its address, which ALLOWED_HOSTS (the public name) refuses with
    a 400: the container was unhealthy for ever, and /metrics could not be read. /health only
    says whether this instance and its database answer; /metrics decides who may read it by
    the client's address and METRICS_TOKEN, never by the Host header."""

    PROBES = {"/health": ("health", health), "/metrics": ("metrics", metrics_view)}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.PROBES.get(request.path_info)
        if probe is not None and request.method == "GET":
            # Counted in the metrics by the name of its route, as if resolved.
            request.probe_name, answer = probe
            return answer(request)
        return self.get_response(request)


class ApiMiddleware:
    """Makes `/api/` answer JSON whatever goes wrong, before or after a view runs.

    Routes under `/api/v1/` are declared without a trailing slash; one sent is dropped here, so
    both forms reach the same view for every method (APPEND_SLASH cannot redirect a POST).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        too_big = self._too_big(request)
        if too_big is not None:
            return too_big
        give_request_headers(request)
        if request.path_info.startswith(VERSIONED_PREFIX) and request.path_info.endswith("/"):
            request.path_info = request.path_info.rstrip("/")
        if self._declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return too_large(request)
        response = self.get_response(request)
        if response.status_code >= 400 and not self._is_json(response):
            response = json_error(response.status_code)
        if "HTTP_AUTHORIZATION" in request.META and "Cache-Control" not in response:
            # An answer to a bearer token is that caller's own (a balance, a ledger, a
            # receipt). Shared caches already pass by a request with Authorization, but a
            # browser's cache or a proxy that ignores that rule could keep it and show it
            # to the next person at that computer. A view's own Cache-Control stands: the
            # listings' `public, no-cache` with their ETag, the secrets' no-store.
            response["Cache-Control"] = PRIVATE_ANSWER
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path_info.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return too_large(request)
        logger.error(
            "Unhandled exception on %s %s", request.method, request.path, exc_info=exception
        )
        response = json_error(500)
        # That line, with the traceback, is the incident's: not Django's "Internal Server
        # Error" line about the same 500 too.
        response._has_been_logged = True
        return response

    @staticmethod
    def _too_big(request: HttpRequest) -> HttpResponse | None:
        """414 for an over-long URL, 431 for too many or too large headers."""
        if len(request.get_full_path()) > MAX_URL_LENGTH:
            message = f"The URL is longer than {MAX_URL_LENGTH} characters."
            return json_error(414, message=message)
        headers = [value for name, value in request.META.items() if name.startswith("HTTP_")]
        if len(headers) > MAX_HEADER_COUNT:
            return json_error(431, message=f"More than {MAX_HEADER_COUNT} request headers.")
        if any(len(value) > MAX_HEADER_LENGTH for value in headers):
            message = f"A request header is longer than {MAX_HEADER_LENGTH} characters."
            return json_error(431, message=message)
        return None

    @staticmethod
    def _declared_length(request: HttpRequest) -> int:
        try:
            return int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0

    @staticmethod
    def _is_json(response: HttpResponse) -> bool:
        return response.get("Content-Type", "").startswith("application/json")


class WebOnly:
    """Mixed into a middleware that serves only the pages (sessions, the session's user,
    messages): the API authenticates every request by its bearer token, so under `/api/` it
    is passed by. (CSRF and framing stay Django's own, which `check --deploy` looks for.)"""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class ContentSecurityPolicyMiddleware(WebOnly, CSPMiddleware):
    """django-csp's `Content-Security-Policy` (settings.CONTENT_SECURITY_POLICY) on the pages'
    and the admin's HTML, so that a script injected into a page does not run. Passed by under
    `/api/`, whose JSON a browser never renders (a header there is bytes and time on the hot
    paths), and on answers that are not HTML (CSV, the PDF receipt, the pages' JSON polls).
    Stripe's Checkout address is added to `form-action` here, read from settings on each
    answer: Buy posts to this server, which redirects to Checkout with a 303, and Chromium
    holds a form's redirects to the form-action of the page the form was on."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponse, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only:
            update = dict(parts.update or {})
            form_action = list(update.get("form-action") or [])
            update["form-action"] = [*form_action, settings.STRIPE_CHECKOUT_ORIGIN]
            parts.update = update
        return parts


class SessionMiddleware(WebOnly, sessions.SessionMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """A page drawn from a session (a signed-in user's invoices, receipts, history) is
        kept by no cache, the browser's included: after signing out on a shared computer,
        Back or a proxy would show it again. A page that says how to cache it is left so."""
        session = request.session
        if session.accessed and not session.is_empty() and "Cache-Control" not in response:
            add_never_cache_headers(response)
        return super().process_response(request, response)


class PagesMiddleware:
    """What the pages and the admin ask of every request and answer, passed by under `/api/`
    (one layer for both, below CsrfViewMiddleware):

    - Query strings and forms are read as UTF-8 only: a request whose Content-Type declares
      another charset is a 400, as Django already answers an urlencoded form that is not
      UTF-8. Django decoded the query string and multipart fields with the declared charset,
      and some codecs (UTF-7, unicode_escape) make lone surrogates that nothing can encode
      again: the filters shown back, the sign-in throttle's digest and the password hasher
      answered 500. Browsers declare none, or UTF-8. Checked before the view (and
      CsrfViewMiddleware's process_view) reads the form.
    - A page that carries a CSRF token (a form) is kept by no cache, signed in or not, as
      Django's own sign-in view is never_cache: the token is bound to the visitor's cookie,
      so a kept copy shown to another visitor, or to this one after signing in rotated it, is
      refused when sent. Read before CsrfViewMiddleware's answer clears the flag; a page
      that says how to cache it is left so.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        charset = request.encoding
        if charset is not None and codecs.lookup(charset).name != "utf-8":
            raise BadRequest("Pages take query strings and forms in UTF-8 only.")
        response = self.get_response(request)
        if request.META.get("CSRF_COOKIE_NEEDS_UPDATE") and "Cache-Control" not in response:
            add_never_cache_headers(response)
        return response


class AuthenticationMiddleware(WebOnly, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(WebOnly, messages.MessageMiddleware):
    pass


REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "HTTP_X_REQUEST_ID"
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]{1,128}")
access_logger = logging.getLogger("access")


class RequestTraceMiddleware:
    """Gives every request an id and every response its `X-Request-ID` (the contract's 1.1),
    makes the request known to the log lines written while it runs, writes its access line
    (method, path without the query, status, duration in ms) and counts it in the metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        # From META, as request.headers would read it: without the header (the common case)
        # request.headers.get raises and catches a KeyError (docs/decisions.md, Speed).
        sent = request.META.get(REQUEST_ID_META, "")
        request.request_id = sent if _VISIBLE_ASCII.fullmatch(sent) else uuid.uuid4().hex
        serving = current_request.set(request)
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request.request_id
            seconds = time.perf_counter() - started
            match = getattr(request, "resolver_match", None)
            metrics.request_observed(
                view=match.view_name if match else getattr(request, "probe_name", "unmatched"),
                method=request.method,
                status=response.status_code,
                seconds=seconds,
            )
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
            return response
        finally:
            current_request.reset(serving)
