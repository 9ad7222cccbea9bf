"""`Idempotency-Key` for POST endpoints: the same key and body again get the first answer."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings

from common import services
from common.api.errors import api_exception_handler
from common.db import all_or_nothing, database_busy, database_rolled_back_for_another
from common.errors import DomainError, Invalid

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

HEADER = "Idempotency-Key"
MAX_LENGTH = 255
REPLAYED = {"Idempotent-Replayed": "true"}
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


def idempotency_key(
    request: Request, *, required: bool, body: type[Serializer] | None = None
) -> str | None:
    """The header's value; raises a 400 naming the header when it is missing, too long, or
    not visible ASCII, and every field of the request's `body` refused too, so a client
    fixes both at once. The body is read for that only once the header is refused: a good
    request's body is validated once, by its view."""
    try:
        return _header_value(request, required=required)
    except ValidationError as refused:
        if body is not None:
            refused.detail.update(_refused_fields(request, body))
        raise


def _refused_fields(request: Request, body: type[Serializer]) -> dict[str, Any]:
    try:
        payload = body(data=request.data)
    except ValidationError as unreadable:
        # A key the JSON names twice: the parser's own field refusal.
        return unreadable.detail if isinstance(unreadable.detail, dict) else {}
    except ParseError as unreadable:
        return {api_settings.NON_FIELD_ERRORS_KEY: [unreadable.detail]}
    try:
        return {} if payload.is_valid() else payload.errors
    except Invalid as refused:
        # A serializer that answers one field's refusal with its own code (a webhook URL
        # too long is `invalid_url`): named beside the header in the one validation_error.
        return refused.fields


def _header_value(request: Request, *, required: bool) -> str | None:
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
    """Method, path and the parsed body: whitespace and key order do not make a new request,
    nor the case of the path's ids (either names the same object; every route is lower case
    but for its ids, so the fingerprints of lower-case paths are what they always were)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    path = request.path_info.lower()
    return hashlib.sha256(f"{request.method} {path}\n{body}".encode()).hexdigest()


class _AlreadyAnswered(Exception):
    """Raised inside the work's transaction to roll it back: the key has an answer."""


class _Attempt:
    def __init__(
        self,
        request: Request,
        key: str,
        action: Callable[[], Response],
        kept: Callable[[Any], Any] | None = None,
    ) -> None:
        self.identity = {
            "user_id": request.user.pk,
            "key": key,
            "fingerprint": request_fingerprint(request),
        }
        self.action = action
        self.kept = kept

    def run(self, *, whole: bool) -> Response:
        """The work and its record in one transaction; a refusal's record on its own."""
        try:
            # all_or_nothing() gives its connection, looked up once; Django's atomic() none.
            with all_or_nothing() if whole else transaction.atomic() as database:
                response = self.action()
                self.record(response, database)
                return response
        except DomainError as error:
            if not error.answers_key:
                raise
            refusal = api_exception_handler(error, {})
            self.record(refusal)
            return refusal

    def record(self, response: Response, database: BaseDatabaseWrapper | None = None) -> None:
        body = (
            self.kept(response.data) if self.kept and response.status_code < 300 else response.data
        )
        stored = services.idempotency_record(
            **self.identity, status=response.status_code, body=body, database=database
        )
        if not stored:
            raise _AlreadyAnswered()

    def replay(self) -> Response | None:
        stored = services.idempotency_answer(**self.identity)
        if stored is None:
            return None
        return Response(stored.body, status=stored.status, headers=REPLAYED)

    def replay_or_raise(self, error: DomainError) -> Response:
        try:
            replayed = self.replay()
        except services.IdempotencyKeyReused:
            replayed = None
        if replayed is None:
            raise error
        return replayed


def idempotent(
    request: Request,
    key: str | None,
    action: Callable[[], Response],
    *,
    kept: Callable[[Any], Any] | None = None,
) -> Response:
    """Runs `action` once per key: stores its answer (also a refusal), or replays the first.
    `kept` is what the record keeps of a successful answer, when not all of it may be kept
    (a secret shown once: the replay answers without it).

    The answer is stored in the work's own transaction, so a request that dies at any point
    leaves nothing claimed: either it committed (its retry gets the stored answer) or nothing
    of it did (its retry does the work). A duplicate in flight runs into the first's row
    locks and unique keys, waits for its commit and then answers from its record.
    """
    if key is None:
        return action()
    attempt = _Attempt(request, key, action, kept)
    try:
        return attempt.run(whole=True)
    except _AlreadyAnswered:
        pass
    except DomainError as error:
        # A refusal the key does not keep (a 400 naming a field) is still no reason to
        # forget what the key already answered: the same request retried after the catalog
        # or the clock has moved on gets its first answer.
        return attempt.replay_or_raise(error)
    except DatabaseError as error:
        if database_busy(error) and not database_rolled_back_for_another(error):
            # Gave up waiting: nothing was done or recorded, the client retries (503 busy).
            # A deadlock's victim is run once more below (busy if that fails too).
            raise
        # The work's own unique keys refused a duplicate (and broke the transaction): a
        # concurrent first request committed its answer, or its record is past retention.
        replayed = attempt.replay()
        if replayed is not None:
            return replayed
        # Past retention: once more with savepoints, so the services answer for their keys.
        try:
            return attempt.run(whole=False)
        except _AlreadyAnswered:
            pass
    replayed = attempt.replay()
    if replayed is None:
        raise RuntimeError(f"The answer to Idempotency-Key {key!r} vanished while replaying it.")
    return replayed
