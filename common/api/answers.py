"""The hot reads' JSON answer, whose headers are looked up rather than caught missing.

Django's response headers (`ResponseHeaders`) answer `in` and `get` with Mapping's own
methods, which call `__getitem__` and catch the `KeyError` it raises for a header that is
not there: about 5,000 instructions a missing header, where a dictionary's look-up costs a
few hundred. The middleware ask after six or seven headers the public listings' and the
balance's answers do not have (`X-Frame-Options`, `Content-Length`,
`X-Content-Type-Options`, `Referrer-Policy`, `Cross-Origin-Opener-Policy`, `Vary`, and
`Cache-Control` for a caller with a token) on every request, to decide whether to add
them (docs/decisions.md, Speed). The same answers, by a cheaper way of asking.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.http.response import ResponseHeaders


class LookedUpHeaders(ResponseHeaders):
    """`in` and `get` as Django's, case-insensitive, from the same store, without the
    exception a missing header raises in Mapping's versions."""

    def __contains__(self, key: object) -> bool:
        return key.lower() in self._store

    def get(self, key: str, default: Any = None) -> Any:
        found = self._store.get(key.lower())
        return default if found is None else found[1]

    @classmethod
    def of(cls, headers: ResponseHeaders) -> LookedUpHeaders:
        """`headers` themselves, their store shared rather than copied: a copy encodes and
        checks every header again, about twenty Python calls more an answer."""
        looked_up = cls(None)
        looked_up._store = headers._store
        return looked_up


class JsonAnswer(HttpResponse):
    """An `HttpResponse` of JSON bytes, its headers `LookedUpHeaders`."""

    def __init__(self, content: bytes, content_type: str = "application/json") -> None:
        super().__init__(content, content_type=content_type)
        self.headers = LookedUpHeaders.of(self.headers)
