"""A hot read's common case answered beside DRF's request machinery; every other case by DRF.

DRF's request wrapper, its `Response` and their rendering cost a balance read about 0.03 ms
of its 0.47 ms of CPU in process, and a larger share of the public listing's
(docs/decisions.md, Speed). The common case is a GET that the view's own negotiator,
authenticators, permissions and throttles let through, checked here in DRF's order: an
Accept header that plain JSON satisfies; a caller an authenticator accepts or, when none
does, the anonymous caller DRF would see, whom the permissions then judge; no limit
reached. It is answered with the bytes DRF's renderer writes, or with the view's own
answer. Anything else (no token where one is needed, a refused one, an API key where none
is allowed, `indent` or another media type, a limit reached) goes to DRF's `dispatch`,
which answers it as it always has. A database that gave up waiting during the read is
answered as DRF answers it (503 `busy` with Retry-After, the view's headers); any other
error of the read by the middleware, as outside DRF's views (`common.middleware`).
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.cache import patch_vary_headers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from common.api.answers import JsonAnswer
from common.api.errors import api_exception_handler
from common.db import database_busy

# Each fast-path view's `Allow` (and `Vary`), by its class, methods and renderers.
_kept_headers: dict[tuple, tuple[str | None, tuple[tuple[str, str], ...]]] = {}


class _Caller:
    """What authenticators, permissions, the negotiator and throttles read of a request: the
    Django request's own attributes, its query parameters, the view, and the user once known.
    Anything else they ask for (a body, say) is missing here, and the request goes to DRF."""

    __slots__ = ("META", "_request", "auth", "method", "parser_context", "user")

    def __init__(self, request: HttpRequest, view: APIView) -> None:
        self._request = request
        self.META = request.META
        self.method = request.method
        self.parser_context = {"view": view, "args": (), "kwargs": {}}
        self.user = None
        self.auth = None

    @property
    def query_params(self) -> QueryDict:
        return self._request.GET

    def __getattr__(self, name: str) -> Any:
        """The rest of the Django request, as DRF's `Request` gives it."""
        return getattr(self._request, name)


# An APIView whose GET without URL arguments answers its common case here: the view defines
# `common_case_body(user)`, the same body its `get` answers, or the whole
# `common_case_response(request)`, the same answer its `get` gives. A comment, not a
# docstring: drf-spectacular describes an operation with the first docstring above APIView
# in the view's classes, and this would be every such view's public description.
class CommonCaseFirst(APIView):
    def common_case_body(self, user: Any) -> Any:
        raise NotImplementedError

    def common_case_response(self, request: HttpRequest) -> HttpResponse:
        """The answer before DRF's headers; by default `common_case_body(user)` in plain
        JSON, as DRF's renderer writes it for this view."""
        body = JSONRenderer().render(
            self.common_case_body(request.user), JSONRenderer.media_type, {}
        )
        return JsonAnswer(body, content_type=JSONRenderer.media_type)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "GET" and not args and not kwargs:
            answered = self._common_case(request)
            if answered is not None:
                return answered
        return super().dispatch(request, *args, **kwargs)

    def _common_case(self, request: HttpRequest) -> HttpResponse | None:
        caller = _Caller(request, self)
        try:
            renderer, media_type = self.get_content_negotiator().select_renderer(
                caller, self.get_renderers()
            )
            if type(renderer) is not JSONRenderer or media_type != renderer.media_type:
                return None
            for authenticator in self.get_authenticators():
                found = authenticator.authenticate(caller)
                if found is not None:
                    caller.user, caller.auth = found
                    break
            else:
                caller.user = api_settings.UNAUTHENTICATED_USER()
            if not all(rule.has_permission(caller, self) for rule in self.get_permissions()):
                return None
        except Exception:  # DRF answers it: the same checks, raised there
            return None
        # Counted from here: a request the limits refuse goes to DRF, which counts it once
        # more as it refuses it; nothing after the limits goes to DRF.
        if not all(limit.allow_request(caller, self) for limit in self.get_throttles()):
            return None
        request.user, request.auth = caller.user, caller.auth
        try:
            response = self.common_case_response(request)
        except DatabaseError as error:
            if not database_busy(error):
                raise
            response = self._busy(error)
        vary, headers = self._headers()
        if vary is not None:
            patch_vary_headers(response, [vary])
        for name, value in headers:
            response[name] = value
        return response

    def _headers(self) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        """DRF's `default_response_headers` for this view, its `Vary` apart. They follow
        from the view's class, methods and renderers alone, so they are built once per
        process for each (DRF joined the allowed methods on every request)."""
        key = (type(self), tuple(self.http_method_names), tuple(self.renderer_classes))
        kept = _kept_headers.get(key)
        if kept is None:
            headers = self.default_response_headers
            vary = headers.pop("Vary", None)
            kept = _kept_headers[key] = (vary, tuple(headers.items()))
        return kept

    def _busy(self, error: DatabaseError) -> Response:
        """The 503 DRF's exception handler gives, rendered as DRF renders it for this view."""
        response = api_exception_handler(error, {"view": self})
        response.accepted_renderer = JSONRenderer()
        response.accepted_media_type = JSONRenderer.media_type
        response.renderer_context = {}
        return response
