"""The public listings, rendered once per catalog version and process.

A listing changes only when the catalog does, and the database numbers every change
(`catalog.models.CatalogVersion`). Each request reads that number, one indexed read; when
this process has already rendered the listing at that number, the bytes are sent as they
are, and a client that sends their `ETag` back gets a 304. Nothing can be stale: the version
is read before the rows a new rendering reads, so a rendering is at least as new as the
number it is kept under, and only versions read outside a transaction are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from catalog.selectors import catalog_version

# Clients and proxies may keep a listing but must ask again before using it: the ETag makes
# that question cheap, and the answer is right the moment staff change the catalog.
CACHE_CONTROL = "public, no-cache"


@dataclass(frozen=True)
class RenderedListing:
    body: bytes
    etag: str

    def response(self, request: Request) -> HttpResponse:
        if self.etag in _etags(request.headers.get("If-None-Match", "")):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(self.body, content_type="application/json")
        response["ETag"] = self.etag
        response["Cache-Control"] = CACHE_CONTROL
        return response


_rendered: dict[str, tuple[tuple[str, int], RenderedListing]] = {}


def listing(name: str, data: Callable[[], dict]) -> RenderedListing:
    """The listing `name` at the catalog's current version; `data` makes it afresh."""
    version = catalog_version()
    kept = _rendered.get(name)
    if kept is not None and version is not None and kept[0] == version:
        return kept[1]
    body = JSONRenderer().render(data())
    rendered = RenderedListing(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    # Inside a transaction the version may be one that a rollback gives back, to be
    # numbered again for another change: only what everyone can see is kept.
    if version is not None and not connection.in_atomic_block:
        _rendered[name] = (version, rendered)
    return rendered


def _etags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header, weak ones compared as strong (RFC 9110
    uses the weak comparison for If-None-Match)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
