"""One error shape for the whole API: `{"error": ..., "code": ..., "fields": {...}}`."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from common.db import database_busy
from common.errors import DomainError, Invalid
from common.outage import (
    RETRY_AFTER_SECONDS,
    database_unavailable,
    first_line,
    warn_database_error,
)

STATUS_CODES = {
    400: ("validation_error", "The request is not valid."),
    401: ("not_authenticated", "Authentication credentials were not provided or are invalid."),
    403: ("permission_denied", "You do not have permission to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    406: ("not_acceptable", "This API only answers with JSON."),
    413: ("too_large", "The request body is larger than 1 MiB."),
    414: ("too_long", "The request's URL is too long."),
    415: ("unsupported_media_type", "Send the request body as application/json."),
    429: ("throttled", "Too many requests; slow down."),
    431: ("headers_too_large", "The request's headers are too large."),
    500: ("server_error", "Something went wrong on our side; it has been logged."),
    503: ("unavailable", "The service is temporarily unavailable."),
}
BUSY_CODE = "busy"
logger = logging.getLogger("common.api")


def busy_retry_after() -> int:
    """Seconds a client should wait before retrying a request the database was too busy for:
    the lock timeout, at least 1."""
    return max(1, math.ceil(settings.DB_LOCK_TIMEOUT))


def busy_body() -> dict:
    return error_body(
        BUSY_CODE,
        f"The database is busy; nothing was changed. Retry in {busy_retry_after()} seconds.",
    )


UNAVAILABLE_CODE = "unavailable"


def unavailable_body() -> dict:
    return error_body(
        UNAVAILABLE_CODE,
        f"The service is temporarily unavailable. Retry in {RETRY_AFTER_SECONDS} seconds.",
    )


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    body: dict[str, Any] = {"error": _sayable(message), "code": code}
    if fields is not None:
        body["fields"] = {
            _sayable(field): [_sayable(said) for said in messages]
            for field, messages in fields.items()
        }
    return body


def _sayable(text: str) -> str:
    """`text` as UTF-8 can carry it. A refusal may quote what was sent (`"x" is not a valid
    choice.`), and a lone surrogate (`"\\ud800"`) is valid JSON but no UTF-8: it is quoted by
    its escape, where the answer could not be encoded at all (a 500)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_error(status: int, code: str | None = None, message: str | None = None) -> JsonResponse:
    """An error response for code paths outside DRF views (middleware, plain Django views)."""
    default_code, default_message = STATUS_CODES.get(status, ("error", "The request failed."))
    return JsonResponse(error_body(code or default_code, message or default_message), status=status)


def _flatten(detail: Any) -> list[str]:
    """DRF nests errors for list and nested fields; the contract wants flat sentences."""
    if isinstance(detail, dict):
        messages = []
        for key, value in detail.items():
            prefix = f"Item {key}: " if isinstance(key, int) or str(key).isdigit() else f"{key}: "
            messages.extend(prefix + message for message in _flatten(value))
        return messages
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item)]
    return [str(detail)]


def validation_fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(field): _flatten(value) for field, value in detail.items()}
    return {api_settings.NON_FIELD_ERRORS_KEY: _flatten(detail)}


def validation_message(fields: dict[str, list[str]]) -> str:
    named = [field for field in fields if field != api_settings.NON_FIELD_ERRORS_KEY]
    if not named:
        return fields[api_settings.NON_FIELD_ERRORS_KEY][0]
    return f"Invalid input in: {', '.join(named)}."


def _own_sentence(exc: exceptions.APIException) -> bool:
    """Whether the code that raised `exc` wrote its own sentence for it (an API key sent where
    keys may not go, a revoked key, CSV asked for without `?format=csv`): it says what to do,
    where the status's general sentence does not. DRF's own details are its class's default or
    a template it fills in (`Unsupported media type "{media_type}" in request.`), whose
    wording the table's sentence replaces; a detail that is not a sentence (simplejwt's
    dict of messages) is replaced too."""
    default = str(type(exc).default_detail)
    return isinstance(exc.detail, str) and exc.detail != default and "{" not in default


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler, rewritten to the contract's shape.

    A database that gave up waiting (common.db.database_busy) is 503 `busy` with Retry-After.
    Returns None for unexpected exceptions, which `common.middleware.ApiMiddleware` turns into a
    logged 500 without a trace.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    headers: dict[str, str] = {}
    if isinstance(exc, Invalid):
        fields = exc.fields
        response = Response(error_body(exc.code, validation_message(fields), fields), 400)
    elif isinstance(exc, DomainError):
        body = {**error_body(exc.code, exc.message), **exc.details()}
        response = Response(body, status=exc.http_status)
    elif database_busy(exc):
        logger.warning("The database gave up waiting, answered 503 busy: %s", first_line(exc))
        response = Response(busy_body(), 503, headers={"Retry-After": str(busy_retry_after())})
        # That line is the request's: not Django's "Service Unavailable" error line too.
        response._has_been_logged = True
    elif database_unavailable(exc):
        warn_database_error(logger, "The database could not be reached, answered 503", exc)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        response = Response(unavailable_body(), 503, headers=headers)
        # That line is the request's: not Django's "Service Unavailable" error line too.
        response._has_been_logged = True
    elif isinstance(exc, exceptions.ValidationError):
        fields = validation_fields(exc.detail)
        response = Response(error_body("validation_error", validation_message(fields), fields), 400)
    elif isinstance(exc, exceptions.ParseError):
        fields = validation_fields([str(exc.detail)])
        response = Response(error_body("validation_error", str(exc.detail), fields), status=400)
    elif isinstance(exc, exceptions.APIException):
        status = exc.status_code
        code, message = STATUS_CODES.get(status, (exc.default_code, str(exc.detail)))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait))
            message = f"Too many requests; try again in {int(exc.wait)} seconds."
        elif isinstance(exc, exceptions.MethodNotAllowed) or _own_sentence(exc):
            message = str(exc.detail)
        response = Response(error_body(code, message), status=status, headers=headers)
    else:
        return None

    # DRF's authentication failures carry the view's challenge, a DomainError its own.
    if response.status_code == 401 and getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    set_rollback()
    return response
