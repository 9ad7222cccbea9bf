"""What the API's answers to a caller with credentials tell caches: a browser's cache, or a
proxy that keeps answers to requests with `Authorization` after all, must not keep one
caller's balance, ledger or invoices for the next person at that computer."""

from __future__ import annotations

import pytest

from conftest import service_client

pytestmark = pytest.mark.django_db

PER_USER_READS = [
    "/api/v1/auth/me",
    "/api/v1/user/tokens/balance",
    "/api/v1/user/tokens/transactions",
    "/api/v1/user/tokens/transactions?format=csv",
    "/api/v1/user/tokens/lots",
    "/api/v1/user/usage",
    "/api/v1/user/holds",
    "/api/v1/user/invoices",
    "/api/v1/user/subscription",
    "/api/v1/user/alerts",
]


@pytest.mark.parametrize("path", PER_USER_READS)
def test_a_users_own_reads_are_not_kept_by_any_cache(user_client, path):
    response = user_client.get(path)

    assert response.status_code in {200, 404}
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    "path", ["/api/v1/admin/api-keys", "/api/v1/admin/invoices", "/api/v1/admin/plans"]
)
def test_staff_lists_are_not_kept_by_any_cache(staff_client, path):
    response = staff_client.get(path)

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_a_services_reads_and_a_refused_token_are_not_kept(api_key, user, api_client):
    holds = service_client(api_key.secret).get(f"/api/v1/users/{user.pk}/holds")
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    refused = api_client.get("/api/v1/user/tokens/balance")

    assert (holds.status_code, refused.status_code) == (200, 401)
    assert holds["Cache-Control"] == refused["Cache-Control"] == "private, no-store"


def test_a_views_own_cache_control_stands(user_client, staff_client):
    """The public listings keep their revalidation by ETag for a signed-in SPA too, and a new
    key's secret its no-store with the rest of Django's never_cache."""
    listing = user_client.get("/api/v1/token-bundles")
    made = staff_client.post("/api/v1/admin/api-keys", {"name": "backend"}, format="json")

    assert listing["Cache-Control"] == "public, no-cache"
    assert "ETag" in listing
    assert made.status_code == 201
    assert made["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_an_anonymous_answer_says_nothing_new(api_client):
    response = api_client.get("/api/v1/user/tokens/balance")

    assert response.status_code == 401
    assert "Cache-Control" not in response
