"""Serializer fields that refuse what DRF would silently coerce."""

from __future__ import annotations

from decimal import Decimal
from functools import reduce
from typing import Any

from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: `"5"`, `5.0`, `5.7` and `true` are refused, not coerced."""

    default_error_messages = {"invalid": "A whole number is required (a JSON integer)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class MoneyField(serializers.DecimalField):
    """A price: accepts `5`, `5.0` and `"5.00"`; answers a string with the currency's places.

    The places come from the object's currency (`currency_path`, dotted), so an amount in a
    currency without minor units answers `"500"`, not `"500.00"`.
    """

    def __init__(self, *, currency_path: str = "currency", **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        self.currency_path = currency_path
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        currency = reduce(getattr, self.currency_path.split("."), instance)
        return value, currency.decimal_places

    def to_representation(self, value: Any) -> str:
        amount, places = value
        return str(Decimal(amount).quantize(Decimal(1).scaleb(-places)))
