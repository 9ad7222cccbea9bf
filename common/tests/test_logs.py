"""Logs under gunicorn: one JSON object a line, with the request and user ids, the service's
access line and not gunicorn's, and never a secret (a password, a token, an Authorization
header, a webhook signature or secret) or a query string."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import RequestFactory
from rest_framework.request import Request

from accounts.tests.factories import UserFactory
from billing.tests.helpers import signature
from common.log import RequestContext, redact
from common.tests.servers import PROJECT, gunicorn, the_test_database

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-9"
WEBHOOK_SECRET = "whsec_tests_payment_current"
KEY_IN_PATH = "tbk_live0123456789abcdefSECRET"


@pytest.fixture
def user():
    user = UserFactory()
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", iterations=1000)
    user.save(update_fields=["password"])
    return user


def test_every_line_is_json_with_its_request_and_no_secret_is_written(user):
    webhook_body = b'{"invoice_id": "00000000-0000-0000-0000-000000000000"}'
    signed = signature(webhook_body, secret=WEBHOOK_SECRET)
    with gunicorn(database=the_test_database(), workers=1) as server:
        _, _, login = server.call(
            "POST",
            "/api/v1/auth/login",
            {"email": user.email, "password": PASSWORD},
            headers={"X-Request-ID": "login-1"},
        )
        bearer = {"Authorization": f"Bearer {login['access']}", "X-Request-ID": "balance-1"}
        server.call("GET", "/api/v1/user/tokens/balance?token=abc&q=kept-out-7f3a", headers=bearer)
        server.call(
            "GET",
            "/api/v1/user/tokens/balance?q=kept-out-7f3a",
            headers={"X-Request-ID": "no-token-1"},
        )
        server.call(
            "POST",
            "/api/v1/auth/login",
            {"email": user.email, "password": "wrong-" + PASSWORD},
        )
        server.call("POST", "/api/v1/auth/refresh", {"refresh": login["refresh"]})
        # A secret pasted into a path: the access line's `path` field was written as it was.
        server.call("GET", f"/api/v1/users/{KEY_IN_PATH}/usage")
        server.call("GET", f"/api/v1/users/{login['access']}/usage")
        webhook = server.call_raw(
            "POST",
            "/api/v1/webhooks/payment",
            webhook_body,
            headers={"X-Payment-Signature": signed, "X-Request-ID": "hook-1"},
        )
        output = server.output()

    lines = [json.loads(line) for line in output.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id", "user_id"} <= set(line)
    assert [line for line in lines if line["logger"] == "gunicorn.access"] == []
    access = {line["request_id"]: line for line in lines if line["logger"] == "access"}
    assert {key: access["balance-1"][key] for key in ("method", "path", "status", "user_id")} == {
        "method": "GET",
        "path": "/api/v1/user/tokens/balance",
        "status": 200,
        "user_id": str(user.pk),
    }
    assert isinstance(access["balance-1"]["duration_ms"], float)
    # A refused request is its access line: not Django's own WARNING too (common.log).
    assert access["no-token-1"]["status"] == 401
    assert [line for line in lines if line["logger"] == "django.request"] == []
    assert access["login-1"]["status"] == 200
    assert access["hook-1"]["status"] == webhook == 400
    for secret in [
        PASSWORD,
        login["access"],
        login["refresh"],
        signed.split("v1=")[1],
        WEBHOOK_SECRET,
        KEY_IN_PATH,
        "token=abc",
        "kept-out-7f3a",
    ]:
        assert secret not in output


def client_request_in_a_new_process(request: str, **settings: str) -> subprocess.CompletedProcess:
    """A test client's request in a fresh process configured as the service is, so that the
    logging settings are the ones it starts with; `request` prints what the test reads."""
    script = f"import django; django.setup(); from django.test import Client; {request}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "INFO",
        **settings,
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_a_request_for_another_host_is_one_warning_line_not_an_error():
    """Any scanner sending its own Host header wrote an ERROR with a traceback, filling the
    error log that an operator alerts on."""
    result = client_request_in_a_new_process(
        "print(Client().get('/api/v1/token-bundles', HTTP_HOST='scanner.example').status_code)",
        DEBUG="0",
        SECRET_KEY="x" * 50,
        LOG_FORMAT="json",
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line["logger"] == "django.security.DisallowedHost"]

    assert result.stdout.strip() == "400"
    assert [(line["level"], "scanner.example" in line["message"]) for line in refused] == [
        ("WARNING", True)
    ]
    assert "exc_info" not in refused[0]
    assert "Traceback" not in result.stderr


def test_djangos_own_lines_are_written_once_and_scrubbed_under_debug():
    """`make run` runs with DEBUG=1, where Django's own console handler wrote its lines a
    second time, past the scrubber. (A 404's own line is written at DEBUG only.)"""
    result = client_request_in_a_new_process(
        "Client().get('/api/v1/tbk_live_kept0ut')", DEBUG="1", LOG_FORMAT="text", LOG_LEVEL="DEBUG"
    )
    not_found = [line for line in result.stderr.splitlines() if "Not Found" in line]
    assert len(not_found) == 1
    assert "django.request" in not_found[0]
    assert "tbk_live_kept0ut" not in result.stderr


def test_secrets_are_scrubbed_from_whatever_logs_them(caplog):
    logger = logging.getLogger("anything")
    logger.addFilter(RequestContext())
    try:
        logger.warning(
            "sent %s with %s",
            "Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
            {"password": "hunter2", "secret": "tbk_live_abc123"},
        )
    finally:
        logger.filters.clear()

    assert "hunter2" not in caplog.text
    assert "eyJhbGciOi" not in caplog.text
    assert "tbk_live_abc123" not in caplog.text
    assert "Bearer [redacted]" in caplog.text


def test_a_webhook_endpoints_secret_is_scrubbed_whole(caplog):
    """An endpoint's secret is base64 (events.services.new_secret), so most have a `+` or a
    `/`: only what came before the first was scrubbed, and the rest of the secret (here all
    but its first character) was written to the log."""
    secret = "whsec_q+7/XWZ0a8bJk3u9Tn2Lr5PdVf6hYcGs"
    logger = logging.getLogger("anything")
    logger.addFilter(RequestContext())
    try:
        logger.warning("endpoint secret rotated to %s; the old one signs for 24 h", secret)
    finally:
        logger.filters.clear()

    assert "7/XWZ0a8bJk3u9Tn2Lr5PdVf6hYcGs" not in caplog.text
    assert "whsec_[redacted]; the old one signs for 24 h" in caplog.text


def test_an_outgoing_webhooks_signatures_are_scrubbed(caplog):
    """Standard Webhooks signs as `v1,<base64>` (one per secret still signing): only the hex
    `v1=` of payment providers was scrubbed, so a logged delivery's signatures were written
    whole, and with its body and timestamp anyone reading the log could replay it."""
    first = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    second = "Kx/3pq0+Zr8V1mWd2nYtE5cJf7uLhA9sBgQeRiXoP4k="
    logger = logging.getLogger("anything")
    logger.addFilter(RequestContext())
    try:
        logger.warning("sent webhook-signature: v1,%s v1,%s to the endpoint", first, second)
    finally:
        logger.filters.clear()

    assert first[:8] not in caplog.text
    assert second[:8] not in caplog.text
    assert "webhook-signature: v1,[redacted] v1,[redacted] to the endpoint" in caplog.text


def test_a_request_given_with_a_line_is_written_as_its_method_and_path_with_its_ids():
    django_request = RequestFactory().get("/api/v1/things/tbk_live_abc123?email=a@example.com")
    django_request.request_id = "given-1"
    context = RequestContext()
    for given in (django_request, Request(django_request)):
        record = logging.makeLogRecord({"msg": "Not Found", "request": given})
        context.filter(record)
        context.filter(record)  # a second handler's filter keeps what the first found
        assert (record.request, record.request_id, record.user_id) == (
            "GET /api/v1/things/tbk_[redacted]",
            "given-1",
            None,
        )


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("X-Payment-Signature: t=1767225600,v1=" + "ab" * 32, "t=1767225600"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw and more", "and more"),
        ("GET /api/v1/token-bundles 200", "GET /api/v1/token-bundles 200"),
    ],
)
def test_redaction_keeps_what_is_not_secret(text, kept):
    clean = redact(text)

    assert kept in clean
    assert "ab" * 32 not in clean
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in clean
