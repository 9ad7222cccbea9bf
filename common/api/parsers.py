"""JSON parsing that keeps every number exact."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from common.errors import DomainError

SEND_ONCE = "Send this field once."


class PayloadTooLarge(DomainError):
    code = "too_large"
    http_status = 413
    default_message = "The request body is larger than 1 MiB."


class DuplicateKey(ValueError):
    """A JSON object that names one key twice. JSON parsers disagree on which value wins (the
    first, the last, an error), so a proxy in front of us and this service could each act on a
    different `amount`: refused rather than silently taking the last."""

    def __init__(self, key: str) -> None:
        # The key is named back to the sender (and recorded with a refused webhook): one
        # holding a lone surrogate (`"\ud800"`, valid JSON but no UTF-8) is named by its
        # escape, as the answer could not be encoded with it (a 500).
        key = key.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(f'the key "{key}" appears more than once in one object')
        self.key = key


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


def parse_json_bytes(raw: bytes, encoding: str = "utf-8") -> Any:
    """Parse JSON with non-integer numbers as `Decimal`, so money never passes through a float.

    Raises ValueError for malformed JSON, NaN and Infinity literals, a key repeated within one
    object (DuplicateKey), values nested too deeply for the parser (about a thousand levels:
    a 2 KB body of brackets), and for a charset that names a codec of bytes rather than of
    text (Django keeps any name `codecs` knows, `rot13` and `zlib` among them, and decoding
    with one raises LookupError).
    """
    try:
        text = raw.decode(encoding)
    except LookupError as error:
        raise ValueError(str(error)) from error
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except RecursionError as error:
        raise ValueError("values are nested too deeply") from error


class DecimalJSONParser(JSONParser):
    """DRF's JSON parser with exact numbers and the request size limit enforced while reading."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge()
        try:
            return parse_json_bytes(raw, encoding)
        except DuplicateKey as error:
            raise ValidationError({error.key: [SEND_ONCE]}) from error
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(f"The body is not valid JSON: {error}") from error
