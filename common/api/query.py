"""Query strings checked like bodies (contract 1.1): every parameter a view declares is validated,
an empty value included, and a parameter sent twice is refused.

DRF serializers and Django forms both read an empty value from a query string as "not sent",
the way an HTML form means it, so `?status=` or `?user=` used to pass as if absent. Here an
empty value is a value: refused unless the parameter is free text that may be blank
(`search`, `cursor`). Two mechanisms share the rule: `QuerySerializer` for DRF serializers
and `StrictQueryForm` as the form of a django-filter FilterSet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.http import QueryDict
from rest_framework import serializers

REPEATED = "Send this parameter once."
BLANK = "This parameter may not be empty."
INVALID_CHOICE = serializers.ChoiceField.default_error_messages["invalid_choice"].replace(
    "{input}", "%(value)s"
)


def repeated_parameters(query: Mapping[str, Any], names: Iterable[str]) -> dict[str, list[str]]:
    """The declared parameters sent more than once, with the error for each."""
    if not isinstance(query, QueryDict):
        return {}
    return {name: [REPEATED] for name in names if len(query.getlist(name)) > 1}


class QuerySerializer(serializers.Serializer):
    """A serializer of query parameters: validated as a JSON body's fields would be."""

    def to_internal_value(self, data: Mapping[str, Any]) -> dict:
        repeated = repeated_parameters(data, self.fields)
        if repeated:
            raise serializers.ValidationError(repeated)
        if isinstance(data, QueryDict):
            data = data.dict()
        return super().to_internal_value(data)


class StrictQueryForm(forms.Form):
    """The form of a django-filter FilterSet (its `Meta.form`), with the same rule, and a
    refused choice said as the serializers of the other lists say it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.ChoiceField):
                field.error_messages["invalid_choice"] = INVALID_CHOICE

    def clean(self) -> dict:
        cleaned = super().clean()
        for name, errors in repeated_parameters(self.data, self.fields).items():
            self.add_error(name, errors)
        for name, field in self.fields.items():
            blank_allowed = isinstance(field, forms.CharField)
            if self.data.get(name) == "" and not blank_allowed and name not in self.errors:
                self.add_error(name, BLANK)
        return cleaned
