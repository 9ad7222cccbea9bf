"""The database down (nothing listens where DATABASE_URL points, as while it restarts):
every request that needs it answers 503 with Retry-After, the API in the contract's shape
(`unavailable`) and the pages as a page, each with one warning line and no traceback, never
a 500; /health says the database is down.

Made real: the connection's port is pointed at one nothing listens on, so every new
connection is refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client

from common.db import database_busy
from common.outage import database_misconfigured, database_unavailable
from common.tests.helpers import database_state
from common.tests.waits import timeouts
from conftest import client_for
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db(transaction=True)

UNAVAILABLE = {
    "error": "The service is temporarily unavailable. Retry in 5 seconds.",
    "code": "unavailable",
}


@contextmanager
def database_down() -> Iterator[None]:
    """Every new connection refused: nothing listens on port 1."""
    database = connection.settings_dict
    saved = database["PORT"]
    connection.close()
    database["PORT"] = "1"
    try:
        yield
    finally:
        connection.close()
        database["PORT"] = saved


def traceback(record: logging.LogRecord) -> object:
    """The record's traceback: common.log's filter moves it to `exc_text`, scrubbed."""
    return record.exc_info or record.exc_text


def assert_one_warning_without_traceback(records: list[logging.LogRecord]) -> None:
    """Besides the access line: one warning, one line, no traceback (no Django error)."""
    lines = [record for record in records if record.name != "access"]
    assert [(line.levelname, traceback(line)) for line in lines] == [("WARNING", None)]
    assert "Connection refused" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/user/tokens/balance", None),
        ("post", "/api/v1/user/tokens/consume", {"amount": 3}),
        ("get", "/api/v1/user/invoices", None),
        ("get", "/api/v1/token-bundles", None),
    ],
)
def test_an_api_request_while_the_database_is_down_is_503_unavailable(
    user, caplog, method, path, body
):
    fund(user, 10)
    before = database_state()
    api = client_for(user)
    api.raise_request_exception = False

    with database_down():
        caplog.clear()
        response = getattr(api, method)(path, body, HTTP_IDEMPOTENCY_KEY="down-1")
        lines = list(caplog.records)

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert_one_warning_without_traceback(lines)
    assert database_state() == before


@pytest.mark.parametrize("path", ["/invoices", "/account/balance", "/"])
def test_a_signed_in_page_while_the_database_is_down_is_the_unavailable_page(user, caplog, path):
    """The session lives in the database: reading who is signed in is the first query."""
    browser = Client(raise_request_exception=False)
    browser.force_login(user)

    with database_down():
        caplog.clear()
        response = browser.get(path)
        lines = list(caplog.records)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "<h1>Temporarily unavailable</h1>" in page
    assert "try again in\n      5 seconds" in page
    assert "Content-Security-Policy" in response
    assert_one_warning_without_traceback(lines)


def test_a_public_listing_while_the_database_is_down_is_503_unavailable(caplog):
    """Anonymous: the listing's own common case (common.api.fastpath) meets the outage."""
    with database_down():
        caplog.clear()
        response = Client(raise_request_exception=False).get("/api/v1/token-bundles")
        lines = list(caplog.records)

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert_one_warning_without_traceback(lines)


def test_health_still_reports_the_database_down():
    with database_down():
        response = Client().get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error"}


def test_a_scrape_while_the_database_is_down_logs_one_line_per_collector(caplog):
    """Prometheus scrapes every 15 s: each collector that reads the database says once, in
    one line, that it could not, and the rest of /metrics is answered."""
    with database_down():
        caplog.clear()
        response = Client().get("/metrics")
        lines = [record for record in caplog.records if record.name != "access"]

    assert response.status_code == 200
    assert b"\npython_gc_objects_collected_total" in response.content
    assert sorted((line.name, line.levelname, traceback(line)) for line in lines) == [
        ("events.metrics", "WARNING", None),
        ("jobs.metrics", "WARNING", None),
        ("tokens.metrics", "WARNING", None),
        ("tokens.metrics", "WARNING", None),
    ]
    assert all("Connection refused" in line.getMessage() for line in lines)


def test_health_while_the_database_is_down_logs_one_line(caplog):
    with database_down():
        caplog.clear()
        Client().get("/health")
        lines = [record for record in caplog.records if record.name != "access"]

    assert_one_warning_without_traceback(lines)


def test_a_connection_the_server_ended_is_unavailable_and_a_timeout_is_not():
    """The other ways an outage shows: the server ends a connection in use (a restart, an
    operator's pg_terminate_backend). A statement past its timeout stays `busy`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres"
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(OperationalError) as ended, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 50")
        with pytest.raises(OperationalError) as timed_out:
            cursor.execute("SELECT pg_sleep(1)")
    connection.close()

    assert database_unavailable(ended.value)
    assert not database_unavailable(timed_out.value)
    assert database_busy(timed_out.value)


@contextmanager
def database_refusing_us() -> Iterator[None]:
    """The server up but refusing who we say we are: a role it does not know, as a
    DATABASE_URL with a wrong name (or password, or database) is refused."""
    database = connection.settings_dict
    saved = database["USER"]
    connection.close()
    database["USER"] = "no_such_role"
    try:
        yield
    finally:
        connection.close()
        database["USER"] = saved


def assert_one_error_naming_the_configuration(records: list[logging.LogRecord]) -> None:
    lines = [record for record in records if record.name != "access"]
    assert [(line.levelname, traceback(line)) for line in lines] == [("ERROR", None)]
    message = lines[0].getMessage()
    assert "not an outage" in message
    assert 'role "no_such_role" does not exist' in message
    assert "\n" not in message


def test_a_refused_configuration_is_still_503_unavailable_but_logged_as_an_error(user, caplog):
    """For the client it is the same outage (the contract's `unavailable`); for the operator
    it does not pass by itself, so its line is an ERROR that says so."""
    api = client_for(user)
    api.raise_request_exception = False

    with database_refusing_us():
        caplog.clear()
        response = api.get("/api/v1/user/tokens/balance")
        lines = list(caplog.records)

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert_one_error_naming_the_configuration(lines)


def test_health_logs_a_refused_configuration_as_an_error(caplog):
    with database_refusing_us():
        caplog.clear()
        response = Client().get("/health")
        lines = list(caplog.records)

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error"}
    assert_one_error_naming_the_configuration(lines)


def connection_failure(reason: str) -> OperationalError:
    """Django's error for a connection psycopg could not open, with the server's reason."""
    error = OperationalError(
        f'connection failed: connection to server at "db", port 5432 failed: {reason}'
    )
    error.__cause__ = psycopg.OperationalError(str(error))
    return error


@pytest.mark.parametrize(
    ("reason", "misconfigured"),
    [
        ('FATAL:  password authentication failed for user "billing"', True),
        ("fe_sendauth: no password supplied", True),
        ('FATAL:  database "billing_prod" does not exist', True),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.7", user "billing", database "b"', True),
        ("Connection refused\n\tIs the server running on that host?", False),
        ("FATAL:  the database system is starting up", False),
        ("FATAL:  sorry, too many clients already", False),
    ],
)
def test_a_refused_name_password_or_database_is_told_from_an_outage(reason, misconfigured):
    error = connection_failure(reason)

    assert database_unavailable(error)
    assert database_misconfigured(error) is misconfigured


def as_a_slow_database(execute, sql, params, many, context):
    """The probe's `SELECT 1` as a database too loaded to answer it in time would run it."""
    if sql == "SELECT 1":
        sql = "SELECT pg_sleep(1)"
    return execute(sql, params, many, context)


def test_health_while_the_database_is_busy_logs_one_line_and_says_so(caplog):
    """A probe past the statement timeout (a database too loaded to answer): load balancers
    probe every few seconds, and each probe wrote a warning with a traceback of some forty
    lines, where an unreachable database writes one line."""
    with timeouts(lock_ms=0, statement_ms=50), connection.execute_wrapper(as_a_slow_database):
        caplog.clear()
        response = Client().get("/health")
        lines = [record for record in caplog.records if record.name != "access"]

    assert response.status_code == 503
    assert [(line.levelname, traceback(line)) for line in lines] == [("WARNING", None)]
    message = lines[0].getMessage()
    assert "statement timeout" in message
    assert "busy" in message
    assert "\n" not in message
