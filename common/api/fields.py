"""Serializer fields that refuse what DRF would silently coerce.

A request is checked against what the OpenAPI schema says, no more leniently: a text field
takes a JSON string (not 5), a flag true/false or "true"/"false" (not "yes" or 1), an id a
UUID in its usual spelling (not 32 bare hex digits or an integer).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from functools import reduce
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from common.text import trimmed


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: `"5"`, `5.0`, `5.7` and `true` are refused, not coerced."""

    default_error_messages = {"invalid": "A whole number is required (a JSON integer)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class NonZeroIntegerField(StrictIntegerField):
    """A JSON integer other than 0 (a signed change, which 0 would not be)."""

    default_error_messages = {"zero": "Cannot be 0."}

    def to_internal_value(self, data: Any) -> int:
        value = super().to_internal_value(data)
        if value == 0:
            self.fail("zero")
        return value


class MoneyField(serializers.DecimalField):
    """A price: accepts `5`, `5.0` and `"5.00"`; answers a string with the currency's places.

    Input is a JSON number or a string of plain digits (`"5"`, `"5.00"`; not `"5e0"`, `" 5"`
    or `"+5"`), with at most `max_digits` digits, `decimal_places` of them after the point:
    the OpenAPI schema says the same (common.api.schema). `max_digits` is always set: without
    it DRF quantizes `1e100` beyond its precision and raises instead of answering a 400.

    The places come from the object's currency (`currency_path`, dotted), so an amount in a
    currency without minor units answers `"500"`, not `"500.00"`.
    """

    default_error_messages = {
        "plain": 'Write the amount as digits and a decimal point, like 5 or "5.00".',
        "digits": "At most {whole} digits before the decimal point and {places} after it.",
    }

    def __init__(self, *, currency_path: str = "currency", **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        if kwargs["max_digits"] is None or kwargs["decimal_places"] is None:
            raise ImproperlyConfigured("A MoneyField is always bounded: give it max_digits.")
        self.currency_path = currency_path
        super().__init__(**kwargs)

    @property
    def plain_pattern(self) -> str:
        """The strings accepted: whole digits, then at most `decimal_places` after a point."""
        whole = self.max_digits - self.decimal_places
        fraction = rf"(\.[0-9]{{1,{self.decimal_places}}})?" if self.decimal_places else ""
        return rf"^[0-9]{{1,{whole}}}{fraction}$"

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str):
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", data):
                self.fail("plain")
            if not re.fullmatch(self.plain_pattern, data):
                whole = self.max_digits - self.decimal_places
                self.fail("digits", whole=whole, places=self.decimal_places)
        return super().to_internal_value(data)

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        currency = reduce(getattr, self.currency_path.split("."), instance)
        return value, currency.decimal_places

    def to_representation(self, value: Any) -> str:
        amount, places = value
        return money_text(amount, places)


class TextField(serializers.CharField):
    """A JSON string and nothing else: DRF would turn 5 or 5.0 into "5". A field that trims
    takes off invisible characters too (common.text.trimmed), and counts its `max_length`
    after trimming, as the contract has it (`name` 1..255 after
    trimming); the schema says so with a pattern (common.api.schema)."""

    default_error_messages = {"invalid": "Must be a string."}

    def run_validation(self, data: Any = serializers.empty) -> Any:
        """A value that trimming leaves empty is blank, invisible characters (common.text)
        and all, as DRF takes one of whitespace only."""
        if self.trim_whitespace and isinstance(data, str) and not trimmed(data):
            data = ""
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        return trimmed(value) if self.trim_whitespace else value


class FlagField(serializers.BooleanField):
    """true or false, also as the strings "true" and "false"; DRF would also take "yes", "on",
    1 and others."""

    ACCEPTED = {True: True, False: False, "true": True, "false": False}
    default_error_messages = {"invalid": 'Must be true or false (or "true" or "false").'}

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool) or data in ("true", "false"):
            return self.ACCEPTED[data]
        self.fail("invalid")


class UUIDStringField(serializers.UUIDField):
    """A UUID as a string in its usual spelling, 8-4-4-4-12 hex digits in either case; DRF
    would also take an integer, 32 bare digits or a `urn:uuid:` prefix."""

    SPELLING = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
    default_error_messages = {"invalid": "Must be a UUID string."}

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str) or not self.SPELLING.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class TimeField(serializers.DateTimeField):
    """A time as docs/api.md states the forms: a date (midnight), or a date and a time to the
    minute or finer, `T` or a space between, with `Z` or `±hh:mm` (UTC without). DRF reads
    more (Python's fromisoformat: week dates `2026-W01-1`, `20260101T100000`, `T10`), which
    no client is told of; the schema states this pattern (common.api.schema)."""

    FORMS = (
        r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
        r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
        r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?"
    )
    default_error_messages = {
        "form": "Write a date (2026-01-12) or a date and time (2026-01-12T10:00:00Z).",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str) or not re.fullmatch(self.FORMS, value):
            self.fail("form")
        return super().to_internal_value(value)


def created_range_checked(data: dict) -> dict:
    """A query's `created_after` (inclusive) and `created_before` (exclusive), when both are
    sent, must make a range with something in it: one that ends before it starts, or where it
    starts, is a 400 naming `created_before`, not a page with nothing on it."""
    after, before = data.get("created_after"), data.get("created_before")
    if after and before and after >= before:
        raise serializers.ValidationError({"created_before": ["Must be later than created_after."]})
    return data


def api_time(moment: datetime | None) -> str | None:
    """A time as the API writes it (DATETIME_FORMAT: UTC, seconds), for bodies built as plain
    dicts on hot paths."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def money_text(amount: Decimal, places: int) -> str:
    """An amount as the API writes it: a string with its currency's places (MoneyField)."""
    return str(Decimal(amount).quantize(Decimal(1).scaleb(-places)))
