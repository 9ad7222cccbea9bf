"""`Idempotency-Key` for POST endpoints: the same key and body again get the first answer."""

from __future__ import annotations

import hashlib
import json
import re
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
# Visible ASCII, no spaces: what survives every HTTP hop unchanged (servers trim a header's
# surrounding whitespace and decode other bytes as they please).
VISIBLE_ASCII = re.compile(r"[!-~]+")


def idempotency_parameter(*, required: bool) -> OpenApiParameter:
    # HTTP drops the spaces around a header's value, so the schema allows them; an optional
    # header sent empty is one not sent.
    key = f"[!-~]{{1,{MAX_LENGTH}}}[ \\t]*"
    pattern = f"^[ \\t]*{key}$" if required else f"^[ \\t]*({key})?$"
    return OpenApiParameter(
        HEADER,
        {"type": "string", "pattern": pattern},
        location=OpenApiParameter.HEADER,
        required=required,
        description=(
            "1..255 visible ASCII characters (no spaces). The same key with the same body "
            "within 24 h answers the first response again (with `Idempotent-Replayed: true`); "
            "with another body, 422."
        ),
    )


def idempotency_key(request: Request, *, required: bool) -> str | None:
    """The header's value; raises a 400 naming the header when it is missing, too long, or
    not visible ASCII."""
    key = request.headers.get(HEADER)
    if key is None or key == "":
        if required:
            raise ValidationError({HEADER: ["This header is required."]})
        return None
    if len(key) > MAX_LENGTH:
        raise ValidationError({HEADER: [f"At most {MAX_LENGTH} characters."]})
    if not VISIBLE_ASCII.fullmatch(key):
        raise ValidationError({HEADER: ["Only visible ASCII characters, without spaces."]})
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
