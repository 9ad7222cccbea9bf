"""Form fields for the admin that read text as the API does."""

from __future__ import annotations

from typing import Any

from django import forms

from common.text import trimmed


class TrimmedCharField(forms.CharField):
    """Django's CharField, trimming invisible characters too (common.text.trimmed) where it
    strips whitespace: a value of a zero-width space alone is blank, as the API has it, and
    `max_length` counts what is left."""

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if self.strip and isinstance(value, str):
            value = trimmed(value)
            if value in self.empty_values:
                return self.empty_value
        return value
