"""A client's mistake (a 4xx) is not the operator's: Django's own `django.request` WARNING
line for each (a body that does not parse, an expired token, a scanner's 404) filled a
night's log with lines that need no one. The access line still says each at INFO, and
`http_requests_total` counts them by status; a 5xx stays an ERROR."""

from __future__ import annotations

import json
import logging
import logging.config
import socket

import pytest
from django.conf import settings
from django.test import Client
from prometheus_client import REGISTRY

from common.log import logging_settings
from common.tests.servers import gunicorn, the_test_database

pytestmark = pytest.mark.django_db


def test_client_errors_write_no_warning_but_their_access_line_and_count(caplog):
    client = Client()
    unmatched = {"view": "unmatched", "method": "GET", "status": "404"}
    counted_before = REGISTRY.get_sample_value("http_requests_total", unmatched) or 0
    caplog.clear()
    with caplog.at_level(logging.INFO):
        statuses = [
            client.get("/api/v1/no-such-route").status_code,
            client.get("/wp-login.php").status_code,
            client.get("/api/v1/user/tokens/balance").status_code,
            client.post(
                "/api/v1/auth/login", "{not json", content_type="application/json"
            ).status_code,
        ]

    assert statuses == [404, 404, 401, 400]
    warned = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == []
    access = [r.status for r in caplog.records if r.name == "access" and r.status >= 400]
    assert access == statuses
    assert REGISTRY.get_sample_value("http_requests_total", unmatched) - counted_before == 2


@pytest.mark.urls("common.tests.urls_faults")
def test_a_server_error_outside_the_api_is_still_an_error_line_with_its_traceback(caplog):
    caplog.clear()
    response = Client(raise_request_exception=False).get("/explode")
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]

    assert response.status_code == 500
    assert [(r.name, r.levelname, bool(r.exc_info or r.exc_text)) for r in errors] == [
        ("django.request", "ERROR", True)
    ]


@pytest.mark.parametrize(
    "body",
    [
        "&".join(f"field{n}=x" for n in range(1200)),
        "username=" + "x" * (2 * 1024 * 1024),
    ],
    ids=["too-many-fields", "too-large"],
)
def test_a_form_django_refuses_as_suspicious_is_one_warning_line_not_an_error(caplog, body):
    """Anyone may post a form of 1,200 fields, or of 2 MiB, to the sign-in page: Django
    answers 400 and wrote an ERROR with a traceback of some sixty lines on
    `django.security.*`, which woke whoever alerts on errors for a client's mistake."""
    caplog.clear()
    response = Client().post("/sign-in", body, content_type="application/x-www-form-urlencoded")
    refused = [r for r in caplog.records if r.name.startswith("django.security.")]

    assert response.status_code == 400
    assert [(r.levelname, r.exc_info, r.exc_text) for r in refused] == [("WARNING", None, None)]
    assert "DATA_UPLOAD_MAX" in refused[0].getMessage()


@pytest.mark.django_db(transaction=True)
def test_a_request_gunicorn_cannot_parse_is_an_info_line_not_a_warning():
    """Scanners send gunicorn what is not HTTP (a TLS handshake on the plain port, a version
    that does not exist): it answers 400 itself and wrote a WARNING for each, a night's log
    full of them. The line is kept, at INFO beside the access lines: no metric counts what
    never reached Django."""
    garbage = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"]
    with gunicorn(database=the_test_database(), workers=1, LOG_FORMAT="json") as server:
        for request in garbage:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
                connection.sendall(request)
                assert connection.recv(100).startswith(b"HTTP/1.1 400")
        output = server.output()

    lines = [json.loads(line) for line in output.splitlines()]
    refused = [line for line in lines if "Invalid request from ip=" in line["message"]]
    assert [line["level"] for line in refused] == ["INFO", "INFO"]


@pytest.mark.parametrize(("level", "lines"), [("ERROR", 0), ("WARNING", 1)])
def test_a_refused_suspicious_request_is_written_only_where_warnings_are(capsys, level, lines):
    """LOG_LEVEL=ERROR asks for errors alone: the refused request, turned into a WARNING
    once its ERROR had passed the level, was written all the same."""
    logging.config.dictConfig(logging_settings(log_format="json", level=level))
    try:
        logging.getLogger("django.security.DisallowedHost").error(
            "Invalid HTTP_HOST header: 'scanner.example'.", extra={"status_code": 400}
        )
        written = capsys.readouterr().err.splitlines()
    finally:
        logging.config.dictConfig(settings.LOGGING)

    assert [json.loads(line)["level"] for line in written] == ["WARNING"] * lines
