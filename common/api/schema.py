"""OpenAPI: every operation documents the errors it can answer, in the contract's shape."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers
from rest_framework.renderers import JSONRenderer

from common.api.errors import STATUS_CODES
from common.api.fields import FlagField, MoneyField, NonZeroIntegerField, TimeField
from common.text import INVISIBLE_PATTERN


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A sentence for a person.")
    code = serializers.CharField(help_text="A stable snake_case code for programs.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for validation errors: messages per field.",
    )


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


# Text fields refuse NUL (PostgreSQL cannot store it), and one that trims and may not be
# blank needs a character that is neither whitespace nor invisible: the schema says so. What
# trimming takes off is spelled out (what Python's str.strip() removes, and the invisible
# characters of common.text), as regex dialects disagree on `\s`.
TEXT = "[^\\x00]*"
WHITESPACE = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000" + INVISIBLE_PATTERN
)
BUSY_DESCRIPTION = (
    "`busy`: the database was busy (a lock or a statement waited too long, or a deadlock);"
    " nothing was changed. `unavailable`: the database could not be reached (down,"
    " restarting). Retry after `Retry-After` seconds."
)


def text_pattern(field: serializers.CharField) -> str:
    """No NUL; for a field that trims, at least one other character unless it may be blank,
    and at most `max_length` from its first such character to its last (JSON Schema's
    maxLength would count the surrounding whitespace too)."""
    if not field.trim_whitespace:
        return f"^{TEXT}$"
    if field.max_length is None:
        return f"^{TEXT}$" if field.allow_blank else f"^{TEXT}[^\\x00{WHITESPACE}]{TEXT}$"
    edge = f"[^\\x00{WHITESPACE}]"
    core = (
        edge
        if field.max_length == 1
        else f"{edge}(?:{TEXT[:-1]}{{0,{field.max_length - 2}}}{edge})?"
    )
    if field.allow_blank:
        core = f"(?:{core})?"
    return f"^[{WHITESPACE}]*{core}[{WHITESPACE}]*$"


def money_request_schema(field: MoneyField) -> dict:
    """What a MoneyField takes: a JSON number, or a string of plain digits (its own pattern)."""
    whole, places = field.max_digits - field.decimal_places, field.decimal_places
    largest = Decimal(10) ** whole - Decimal(10) ** -places
    return {
        "oneOf": [
            {"type": "number", "minimum": 0, "maximum": float(largest)},
            {"type": "string", "format": "decimal", "pattern": field.plain_pattern},
        ]
    }


def always_answered(serializer: serializers.Serializer, schema: dict) -> set[str]:
    """The fields every answer of `serializer` carries: all of them, but those declared with
    `required=False`, which mark a field some answers leave out. A model field with a default
    or null is not required as input (drf-spectacular lists it so), yet is always sent."""
    declared = getattr(serializer, "_declared_fields", {})
    return {
        name
        for name in schema.get("properties", {})
        if name not in declared or declared[name]._kwargs.get("required", True)
    }


class ApiAutoSchema(AutoSchema):
    """Adds the errors an operation can answer (400, 401, 403, 404, 406, 413, 414, 415, 429,
    431) where they can happen, unless the view documents them itself, and describes request
    fields as strictly as the API checks them.

    A view that verifies its raw body itself (a webhook) says so with `reads_raw_body = True`:
    it never answers 415.
    """

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if direction == "request" and isinstance(field, MoneyField):
            return money_request_schema(field)
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, FlagField):
            return {"oneOf": [schema, {"type": "string", "enum": ["true", "false"]}]}
        if direction == "request" and isinstance(field, NonZeroIntegerField):
            schema["not"] = {"enum": [0]}
        if direction == "request" and isinstance(field, TimeField):
            schema.pop("format", None)
            schema["pattern"] = f"^{TimeField.FORMS}$"
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response":
            required = sorted(always_answered(serializer, schema))
            if required:
                schema["required"] = required
        if direction == "request":
            for name, field_schema in schema.get("properties", {}).items():
                field = serializer.fields.get(name)
                constrained = {"format", "pattern"} & set(field_schema)
                plain = field_schema.get("type") == "string" and not constrained
                if plain and isinstance(field, serializers.CharField):
                    field_schema["pattern"] = text_pattern(field)
                    if field.trim_whitespace:
                        field_schema.pop("maxLength", None)
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self._possible_errors():
            if str(status) not in responses:
                described = error_response(
                    BUSY_DESCRIPTION if status == 503 else STATUS_CODES[status][1]
                )
                responses[str(status)] = self._get_response_for_code(
                    described, str(status), direction=direction
                )
        return responses

    def _possible_errors(self) -> list[int]:
        statuses = []
        has_query = any(parameter["in"] == "query" for parameter in self._get_parameters())
        if self.method in {"POST", "PUT", "PATCH"} or has_query:
            statuses.append(400)
        permission_classes = [type(permission) for permission in self.view.get_permissions()]
        if permissions.AllowAny not in permission_classes:
            # Whoever may call it, someone signed in may not: a non-staff user (staff
            # endpoints, and the /users/{user_id}/ ones that take a service key or staff), or
            # a service key (every endpoint but those, accounts.authentication).
            statuses += [401, 403]
        if "{" in self.path:
            statuses.append(404)
        statuses.append(406)
        if self.method in {"POST", "PUT", "PATCH"}:
            statuses.append(413)
            parses_body = self.get_request_serializer() is not None
            if parses_body and not getattr(self.view, "reads_raw_body", False):
                statuses.append(415)
        statuses.append(414)
        if self.view.get_throttles():
            statuses.append(429)
        statuses.append(431)
        # Every operation reads the database, and may wait on it too long (common.db) or
        # not reach it (common.outage).
        statuses.append(503)
        return statuses


class ErrorsInJsonSchema(ApiAutoSchema):
    """The errors are JSON whatever the client accepted; only the 200 may be a file."""

    def map_renderers(self, attribute: str) -> list:
        return [getattr(JSONRenderer, attribute)]
