"""Every error under /api/ answers JSON in the contract's shape, never HTML or a trace."""

import json
import logging

import pytest
from django.db import DatabaseError, connection
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_unknown_api_route_is_json_404(api_client):
    response = api_client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "code": "not_found"}


def test_unknown_api_route_is_json_also_with_debug(api_client, settings):
    settings.DEBUG = True

    response = api_client.get("/api/v1/no-such-thing/deeper")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_method_not_allowed_is_405(api_client):
    response = api_client.delete("/api/v1/token-bundles")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_form_body_is_415(api_client):
    response = api_client.post(
        "/api/v1/auth/login", data="email=a@b.c", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert response.json() == {
        "error": "Send the request body as application/json.",
        "code": "unsupported_media_type",
    }


def test_malformed_json_is_400(api_client):
    response = api_client.post(
        "/api/v1/auth/login", data='{"email": ', content_type="application/json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["error"].startswith("The body is not valid JSON")


@pytest.mark.parametrize("codec", ["rot13", "base64", "zlib", "hex"])
def test_a_charset_that_is_no_text_encoding_is_400_and_registers_nobody(api_client, codec):
    """Django keeps any charset `codecs` knows; one that turns bytes into bytes was a 500,
    open to anyone on register and login."""
    response = api_client.post(
        "/api/v1/auth/register",
        data=b'{"email": "new@example.com", "password": "A-long-passw0rd!"}',
        content_type=f"application/json; charset={codec}",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["error"].startswith("The body is not valid JSON")
    assert not User.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_numbers_are_400(api_client, literal):
    response = api_client.post(
        "/api/v1/auth/login",
        data=f'{{"email": "a@example.com", "password": {literal}}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_is_400(api_client, body):
    response = api_client.post("/api/v1/auth/login", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "non_field_errors" in response.json()["fields"]


def test_body_over_one_mebibyte_is_413(api_client):
    oversized = json.dumps({"email": "a@example.com", "password": "x" * (1024 * 1024)})

    response = api_client.post(
        "/api/v1/auth/login", data=oversized, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


@pytest.mark.urls("common.tests.urls_faults")
def test_unexpected_exception_is_json_500_without_trace(caplog):
    client = Client(raise_request_exception=False)

    with caplog.at_level(logging.ERROR, logger="common.api"):
        response = client.get("/api/v1/explode")

    assert response.status_code == 500
    assert response.json() == {
        "error": "Something went wrong on our side; it has been logged.",
        "code": "server_error",
    }
    assert b"secret internal detail" not in response.content
    assert "secret internal detail" in caplog.text


@pytest.mark.urls("common.tests.urls_faults")
def test_unexpected_exception_is_json_500_also_with_debug(settings):
    settings.DEBUG = True
    client = Client(raise_request_exception=False)

    response = client.get("/api/v1/explode")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b"Traceback" not in response.content


@pytest.mark.parametrize("path", ["/api/v1/token-bundles", "/api/v1/token-bundles/"])
def test_trailing_slash_is_optional(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    assert "items" in response.json()


def test_trailing_slash_is_optional_for_posts(api_client):
    response = api_client.post(
        "/api/v1/auth/login/", {"email": "nobody@example.com", "password": "x"}
    )

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_throttled_requests_get_429_with_retry_after(api_client, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon", "2/minute")
    for _ in range(2):
        assert api_client.get("/api/v1/plans").status_code == 200

    response = api_client.get("/api/v1/plans")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_an_anonymous_client_is_counted_at_the_anonymous_rate_alone(
    api_client, monkeypatch, one_window
):
    """THROTTLE_USER is per signed-in user (README): it does not also count an address."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon", "3/minute")
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "1/minute")

    statuses = [api_client.get("/api/v1/plans").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_a_signed_in_user_is_counted_at_the_user_rate(user_client, monkeypatch, one_window):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon", "1/minute")
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "2/minute")

    statuses = [user_client.get("/api/v1/user/tokens/balance").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_an_api_key_is_counted_at_the_service_rate_in_a_count_of_its_own(
    api_key, user, user_client, monkeypatch, one_window
):
    """One key carries a seller's backend traffic for all of its users: at THROTTLE_USER it
    had one user's share. THROTTLE_SERVICE counts it, apart from the users' counts."""
    from rest_framework.throttling import SimpleRateThrottle

    from conftest import service_client

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "1/minute")
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "service", "3/minute")
    service = service_client(api_key.secret)

    by_key = [service.get(f"/api/v1/users/{user.pk}/holds").status_code for _ in range(4)]
    by_user = [user_client.get("/api/v1/user/tokens/balance").status_code for _ in range(2)]

    assert by_key == [200, 200, 200, 429]
    assert by_user == [200, 429]


def test_health_reports_database_ok(api_client):
    response = api_client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "10.0.3.17:8000"])
def test_health_answers_a_probe_by_address_under_production_hosts(client, settings, host):
    """The image's HEALTHCHECK asks 127.0.0.1:8000, a load balancer the instance's address;
    with ALLOWED_HOSTS the public name, the host check answered 400 and the container was
    unhealthy for ever. Every other path still refuses a host not allowed."""
    settings.ALLOWED_HOSTS = ["billing.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    probe = client.get("/health", HTTP_HOST=host)
    other = client.get("/api/v1/plans", HTTP_HOST=host)

    assert (probe.status_code, probe.json()) == (200, {"status": "ok", "database": "ok"})
    assert probe["X-Request-ID"]
    assert other.status_code == 400


def test_health_reports_database_down_as_503(api_client, monkeypatch):
    def refuse(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)

    response = api_client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error"}
