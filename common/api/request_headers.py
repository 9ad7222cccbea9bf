"""An API request's headers, built from META with the names this process has already parsed.

Django builds `request.headers` (`HttpHeaders`) on first use by parsing every key of META
into a header's name (four string operations a key, about twenty keys a request) and then
lower-casing each name for its case-insensitive store: about 93,000 instructions, 3 % of a
consume, for a map every API request builds (the authentication and CORS read it). Its `get`
and `in` are Mapping's, which catch the `KeyError` of a header that is not there (CORS asks
for `Origin` on every request). The same map, the same answers, at the cost of a look-up a
key (docs/decisions.md, Speed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.http.request import HttpHeaders

# Each META key's header name and its lower case, or None for a key that names no header, as
# HttpHeaders.parse_header_name and HttpHeaders.__init__ judge it. Emptied when full: clients
# choose their headers' names, and a made-up one is parsed once more after that, as Django
# parses every one.
NAMES_KEPT = 1024
_names: dict[str, tuple[str, str] | None] = {}


class RequestHeaders(HttpHeaders):
    """Django's `HttpHeaders` of `environ`: the same names, values and order, read through
    the same case-insensitive store; `get` and `in` look the name up instead of catching a
    missing header's `KeyError`."""

    def __init__(self, environ: Mapping[str, Any]) -> None:
        store = {}
        for key, value in environ.items():
            try:
                name = _names[key]
            except KeyError:
                name = _parsed(key)
            if name is not None:
                store[name[1]] = (name[0], value)
        self._store = store

    def __contains__(self, key: object) -> bool:
        return key.lower() in self._store

    def get(self, key: str, default: Any = None) -> Any:
        found = self._store.get(key.lower())
        return default if found is None else found[1]


def _parsed(key: str) -> tuple[str, str] | None:
    name = HttpHeaders.parse_header_name(key)
    parsed = (name, name.lower()) if name else None  # `HTTP_` alone names none either
    if len(_names) >= NAMES_KEPT:
        _names.clear()
    _names[key] = parsed
    return parsed


def give_request_headers(request: HttpRequest) -> None:
    """`request.headers` as Django would build it from META on first use (a cached
    property, so this sets what it would keep)."""
    request.headers = RequestHeaders(request.META)
