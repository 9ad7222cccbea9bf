"""Every API route reaches its own view: the apps' routes share /api/v1/ and are tried in
an order chosen for speed (config/urls.py), so a pattern of one app must never catch a path
meant for another's."""

import re

from django.urls import URLPattern, URLResolver, get_resolver, resolve

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
