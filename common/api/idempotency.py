"""`Idempotency-Key` for POST endpoints: the same key and body again get the first answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from common import services
from common.api.errors import api_exception_handler
from common.errors import DomainError

HEADER = "Idempotency-Key"
MAX_LENGTH = 255


def idempotency_parameter(*, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        HEADER,
        str,
        location=OpenApiParameter.HEADER,
        required=required,
        description=(
            "1..255 characters. The same key with the same body within 24 h answers the first "
            "response again (with `Idempotent-Replayed: true`); with another body, 422."
        ),
    )


def idempotency_key(request: Request, *, required: bool) -> str | None:
    """The header's value; raises a 400 naming the header when it is missing or too long."""
    key = request.headers.get(HEADER)
    if key is None or key == "":
        if required:
            raise ValidationError({HEADER: ["This header is required."]})
        return None
    if len(key) > MAX_LENGTH:
        raise ValidationError({HEADER: [f"At most {MAX_LENGTH} characters."]})
    return key


def request_fingerprint(request: Request) -> str:
    """Method, path and the parsed body: whitespace and key order do not make a new request."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{request.method} {request.path_info}\n{body}".encode()).hexdigest()


def idempotent(request: Request, key: str | None, action: Callable[[], Response]) -> Response:
    """Runs `action` once per key: stores its answer (also a refusal), or replays the first.

    An unexpected exception releases the key so the client can retry; the work itself is
    idempotent by the same key in the database, so nothing it committed happens twice.
    """
    if key is None:
        return action()
    claim = services.idempotency_claim(
        user_id=request.user.pk, key=key, fingerprint=request_fingerprint(request)
    )
    if isinstance(claim, services.StoredResponse):
        return Response(claim.body, status=claim.status, headers={"Idempotent-Replayed": "true"})
    try:
        response = action()
    except DomainError as error:
        response = api_exception_handler(error, {})
    except BaseException:
        services.idempotency_release(record=claim)
        raise
    services.idempotency_complete(record=claim, status=response.status_code, body=response.data)
    return response
