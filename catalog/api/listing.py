"""The public listings, rendered once per catalog version and process.

A listing changes only when the catalog does, and the database numbers every change
(`catalog.models.CatalogVersion`). Each request reads that number, one indexed read; when
this process has already rendered the listing at that number, the bytes are sent as they
are, and a client that sends their `ETag` back gets a 304. Nothing can be stale: the version
is read before the rows a new rendering reads, so a rendering is at least as new as the
number it is kept under, and only versions read outside a transaction are kept or used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse, HttpResponseNotModified
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from catalog.selectors import catalog_version
from common.api.answers import JsonAnswer

# Clients and proxies may keep a listing but must ask again before using it: the ETag makes
# that question cheap, and the answer is right the moment staff change the catalog.
CACHE_CONTROL = "public, no-cache"


@dataclass(frozen=True)
class RenderedListing:
    body: bytes
    etag: str

    def response(self, request: Request) -> HttpResponse:
        # From META, as request.headers would read it: without the header (the common case)
        # request.headers.get raises and catches a KeyError (docs/decisions.md, Speed).
        if _matches(self.etag, request.META.get("HTTP_IF_NONE_MATCH", "")):
            # No Content-Type (a cache copies a 304's headers onto what it kept, the JSON),
            # and the 200's length where Django's CommonMiddleware would write 0: RFC 9110
            # allows a 304 no other.
            response = HttpResponseNotModified()
            response["Content-Length"] = str(len(self.body))
        else:
            response = JsonAnswer(self.body)
        response["ETag"] = self.etag
        response["Cache-Control"] = CACHE_CONTROL
        return response


_rendered: dict[str, tuple[tuple[str, int], RenderedListing]] = {}


def listing(name: str, data: Callable[[], dict]) -> RenderedListing:
    """The listing `name` at the catalog's current version; `data` makes it afresh."""
    # The connection looked up once: each use of django.db.connection looks it up again in
    # the thread's connections (asgiref's Local, about nine calls each).
    database = connections[DEFAULT_DB_ALIAS]
    version = catalog_version(database)
    # Inside a transaction nothing kept is used or kept: the transaction's own catalog
    # writes raise the version only as it commits (on PostgreSQL), and a version read in
    # it may be one a rollback gives back, to be numbered again for another change.
    committed = database.get_autocommit() and not database.in_atomic_block
    kept = _rendered.get(name)
    if committed and kept is not None and version is not None and kept[0] == version:
        return kept[1]
    body = JSONRenderer().render(data())
    rendered = RenderedListing(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    if committed and version is not None:
        _rendered[name] = (version, rendered)
    return rendered


def _matches(etag: str, if_none_match: str) -> bool:
    """Whether an If-None-Match header names `etag`, weak tags compared as strong (RFC 9110
    uses the weak comparison for If-None-Match), or is `*` (any current representation)."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",") if tag.strip()}
    return etag in tags or "*" in tags
