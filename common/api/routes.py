"""The API's routes, resolved once per path and process."""

from __future__ import annotations

from django.urls import URLResolver, include, path
from django.urls.resolvers import ResolverMatch, RoutePattern

# Paths with ids in them (a service's usage for each of its users) would otherwise grow the
# map without bound; when full it is emptied, and the hot paths come back on their next call.
PATHS_KEPT = 1024


class RememberedRoutes(URLResolver):
    """The apps' URL modules under one prefix, each path's match kept after its first
    resolution. Django resolves a path by trying patterns in order, and under /api/v1/ that
    meant failing through other apps' patterns on every request (about 5 % of the instructions
    a balance costs its worker). Routes are fixed for a process's life, so the same path
    always resolves the same way; a path that resolves to nothing is not kept.

    The kept match is not handed out as it is: the root resolver builds each request's match
    (its own `kwargs`, `app_names` and `route`) from it, as it does from any included
    resolver's. Only its `captured_kwargs` is passed on as it is; Django, DRF and
    drf-spectacular read it and never write it.
    """

    def __init__(self, prefix: str, urlconfs: list[str]) -> None:
        included = [path("", include(urlconf)) for urlconf in urlconfs]
        super().__init__(RoutePattern(prefix, is_endpoint=False), included)
        self.matches: dict[str, ResolverMatch] = {}

    def resolve(self, path: str) -> ResolverMatch:
        match = self.matches.get(path)
        if match is None:
            match = super().resolve(path)
            if len(self.matches) >= PATHS_KEPT:
                self.matches.clear()
            self.matches[path] = match
        return match
