"""Every API route reaches its own view: the apps' routes share /api/v1/ and are tried in
an order chosen for speed (config/urls.py), so a pattern of one app must never catch a path
meant for another's."""

import re
from uuid import UUID, uuid4

import pytest
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, include, resolve
from django.urls import path as django_path
from django.urls.resolvers import RegexPattern, ResolverMatch

from common.api import routes as routes_module
from common.api.routes import RememberedRoutes
from config.urls import API_URLCONFS

SOME_ID = "3f0c1b0e-8a8f-4a53-9b4e-0a4b6c3d2e1f"


def api_routes(patterns, prefix="", namespace=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from api_routes(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/") and pattern.name:
            yield "/" + re.sub(r"<[^>]+>", SOME_ID, route), f"{namespace}{pattern.name}"


def test_every_api_route_resolves_to_its_own_view():
    routes = list(api_routes(get_resolver().url_patterns))

    reached = {path: resolve(path).view_name for path, _ in routes}

    assert len(routes) > 50
    assert [(path, reached[path]) for path, _ in routes] == routes


def test_the_hot_paths_resolve_where_the_benchmark_expects():
    assert resolve("/api/v1/token-bundles").view_name == "catalog:token-bundles"
    assert resolve("/api/v1/user/tokens/balance").view_name == "tokens:balance"
    assert resolve("/api/v1/user/tokens/consume").view_name == "tokens:consume"
    assert resolve(f"/api/v1/users/{SOME_ID}/usage").view_name == "tokens:service-usage"
    assert resolve("/api/v1/user/checkout").view_name == "billing:checkout"


def as_django_would(path: str) -> tuple:
    """What the same URL modules give without RememberedRoutes, each included under /api/v1/."""
    included = [django_path("api/v1/", include(urlconf)) for urlconf in API_URLCONFS]
    return described(URLResolver(RegexPattern(r"^/"), included).resolve(path))


def described(match: ResolverMatch) -> tuple:
    return (
        match.func,
        match.args,
        match.kwargs,
        match.url_name,
        match.app_names,
        match.namespaces,
        match.route,
        match.view_name,
    )


def remembered_routes() -> RememberedRoutes:
    (remembered,) = [p for p in get_resolver().url_patterns if isinstance(p, RememberedRoutes)]
    return remembered


def test_every_api_route_resolves_as_django_would_first_and_every_time_after(monkeypatch):
    monkeypatch.setattr(remembered_routes(), "matches", {})
    routes = [path for path, _ in api_routes(get_resolver().url_patterns)]

    first = {path: described(resolve(path)) for path in routes}
    again = {path: described(resolve(path)) for path in routes}

    assert first == again == {path: as_django_would(path) for path in routes}


def test_each_resolution_is_a_match_of_its_own():
    path = f"/api/v1/users/{SOME_ID}/usage"
    one, other = resolve(path), resolve(path)

    one.kwargs["user_id"] = "changed by one request"

    assert one is not other
    assert other.kwargs == {"user_id": UUID(SOME_ID)}
    assert resolve(path).kwargs == {"user_id": UUID(SOME_ID)}


def test_a_path_is_resolved_once_and_kept(monkeypatch):
    remembered = remembered_routes()
    monkeypatch.setattr(remembered, "matches", {})
    resolved = []
    django_resolve = URLResolver.resolve

    def counted(resolver: URLResolver, path: str) -> ResolverMatch:
        if resolver is remembered:
            resolved.append(path)
        return django_resolve(resolver, path)

    monkeypatch.setattr(URLResolver, "resolve", counted)

    for _ in range(3):
        assert resolve("/api/v1/user/tokens/balance").view_name == "tokens:balance"

    assert resolved == ["api/v1/user/tokens/balance"]
    assert list(remembered.matches) == ["api/v1/user/tokens/balance"]


def test_paths_kept_are_bounded(monkeypatch):
    remembered = remembered_routes()
    monkeypatch.setattr(routes_module, "PATHS_KEPT", 3)
    monkeypatch.setattr(remembered, "matches", {})
    users = [uuid4() for _ in range(7)]
    sizes = []

    for user in users:
        assert resolve(f"/api/v1/users/{user}/usage").kwargs == {"user_id": user}
        sizes.append(len(remembered.matches))
        assert f"api/v1/users/{user}/usage" in remembered.matches

    assert max(sizes) == 3
    assert sizes == [1, 2, 3, 1, 2, 3, 1]


def test_a_path_that_resolves_to_nothing_is_not_kept():
    with pytest.raises(Resolver404):
        resolve("/api/v1/no-such-route")

    assert "api/v1/no-such-route" not in remembered_routes().matches
