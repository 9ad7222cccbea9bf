"""The renderer for a request's Accept header, chosen as DRF chooses it, once per header."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Headers are the client's to choose: past this many, choices are made again, not remembered.
REMEMBERED_HEADERS = 256

_choices: dict[tuple[str, tuple[type, ...]], tuple[int, str]] = {}


class RememberedNegotiation(DefaultContentNegotiation):
    """DRF parses the Accept header and builds the query string's dict (to look for a format
    override, which this API turns off) on every request: about 4 % of a balance read. The
    answer depends only on the header and the view's renderers, so it is kept per process.
    A header no renderer satisfies is refused (406) each time, as DRF refuses it.

    An empty Accept header names no media range at all: some HTTP clients send one when the
    caller set none. RFC 9110 lets a server disregard a header it cannot honour, and a caller
    who named nothing expects what a missing header gets, so it is read as `*/*`."""

    def get_accept_list(self, request: Request) -> list[str]:
        return super().get_accept_list(request) or ["*/*"]

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        if format_suffix or self.settings.URL_FORMAT_OVERRIDE:
            return super().select_renderer(request, renderers, format_suffix)
        key = (request.META.get("HTTP_ACCEPT", "*/*"), tuple(map(type, renderers)))
        chosen = _choices.get(key)
        if chosen is None:
            renderer, media_type = super().select_renderer(request, renderers)
            chosen = (renderers.index(renderer), media_type)
            if len(_choices) < REMEMBERED_HEADERS:
                _choices[key] = chosen
        index, media_type = chosen
        return renderers[index], media_type
