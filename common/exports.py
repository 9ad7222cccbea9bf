"""Streaming CSV downloads that stay safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

from common.api.files import FileRenderer

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class CsvRenderer(FileRenderer):
    media_type = "text/csv"
    format = "csv"


class _Echo:
    """csv.writer writes into this and gets the line back, so rows stream one by one."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> object:
    """Times in ISO 8601 UTC; text a spreadsheet would run as a formula gets a leading '."""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_response(
    rows: Iterable[Sequence], *, header: Sequence[str], filename: str
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
