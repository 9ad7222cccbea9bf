"""JSON parsing that keeps every number exact."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from common.errors import DomainError


class PayloadTooLarge(DomainError):
    code = "too_large"
    http_status = 413
    default_message = "The request body is larger than 1 MiB."


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_bytes(raw: bytes, encoding: str = "utf-8") -> Any:
    """Parse JSON with non-integer numbers as `Decimal`, so money never passes through a float.

    Raises ValueError for malformed JSON, NaN and Infinity literals, values nested too deeply
    for the parser (about a thousand levels: a 2 KB body of brackets), and for a charset that
    names a codec of bytes rather than of text (Django keeps any name `codecs` knows, `rot13`
    and `zlib` among them, and decoding with one raises LookupError).
    """
    try:
        text = raw.decode(encoding)
    except LookupError as error:
        raise ValueError(str(error)) from error
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
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
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(f"The body is not valid JSON: {error}") from error
