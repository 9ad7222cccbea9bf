"""X-Request-ID on every response: the client's own when it is 1..128 visible ASCII
characters, else a new one; errors and pages outside the API too."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("sent", ["abc-123", "x" * 128, "!~", "trace:4bf92f35/00f067aa"])
def test_a_valid_id_from_the_client_comes_back(api_client, sent):
    response = api_client.get("/api/v1/token-bundles", HTTP_X_REQUEST_ID=sent)

    assert response["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["", "x" * 129, "has space", "tab\tin", "é"])
def test_an_invalid_id_is_replaced_by_a_new_one(api_client, sent):
    response = api_client.get("/api/v1/token-bundles", HTTP_X_REQUEST_ID=sent)

    assert response["X-Request-ID"] != sent
    assert len(response["X-Request-ID"]) == 32


def test_without_an_id_each_response_gets_its_own(api_client):
    first = api_client.get("/health")["X-Request-ID"]
    second = api_client.get("/health")["X-Request-ID"]

    assert len({first, second}) == 2


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/nowhere", 404),
        ("get", "/api/v1/user/tokens/balance", 401),
        ("delete", "/api/v1/token-bundles", 405),
        ("get", "/no-such-page", 404),
        ("get", "/sign-in", 200),
        ("get", "/metrics", 200),
    ],
)
def test_errors_and_pages_outside_the_api_carry_it_too(client, method, path, status):
    response = getattr(client, method)(path, HTTP_X_REQUEST_ID="req-7")

    assert response.status_code == status
    assert response["X-Request-ID"] == "req-7"


def test_an_unexpected_error_carries_it(api_client, settings):
    settings.ROOT_URLCONF = "common.tests.urls_faults"

    response = api_client.get("/api/v1/explode", HTTP_X_REQUEST_ID="req-500")

    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-500"
