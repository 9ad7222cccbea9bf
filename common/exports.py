"""Streaming CSV downloads that stay safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

from common.api.files import FileRenderer
from common.heartbeat import heartbeat

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Rows written between two heartbeats: a few milliseconds of work.
HEARTBEAT_ROWS = 1000


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
        """The rows as they come, the server told of the progress: a long download under
        gunicorn is not taken for a stuck worker and cut off (common.heartbeat)."""
        yield writer.writerow(header)
        for number, row in enumerate(rows, start=1):
            if number % HEARTBEAT_ROWS == 0:
                heartbeat()
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
