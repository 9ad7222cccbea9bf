"""The pages' own JSON polls (the header's balance, the receipt waiting for its payment) meet
an outage as the API does: a script that asked for JSON gets the contract's 503 `busy` or
`unavailable` with Retry-After, which it can read, while a browser's navigation to any page
gets the short page it can show. Either way the operator gets one warning line."""

from __future__ import annotations

import pytest
from django.test import Client

from common.tests.test_database_down import UNAVAILABLE, assert_one_warning_without_traceback
from common.tests.test_database_down import database_down as down
from common.tests.timeout_helpers import BUSY, LOCK_TIMEOUT_SECONDS
from common.tests.waits import row_locked, timeouts
from conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

POLLS = ["/account/balance", "/purchase/status?invoice=0b9e0b4e-3f7a-4c64-9a55-8a1f0b1c2d3e"]
# What site.js's pollJSON sends, and what a browser sends when it navigates.
SCRIPT = {"HTTP_ACCEPT": "application/json"}
NAVIGATION = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
# A reader of the sessions waits behind this, as behind a stuck migration.
SESSIONS_LOCKED = "LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE"


def signed_in(user) -> Client:
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    return browser


@pytest.mark.parametrize("path", POLLS)
def test_a_poll_while_the_database_is_down_is_the_contracts_json_503(user, caplog, path):
    browser = signed_in(user)

    with down():
        caplog.clear()
        response = browser.get(path, **SCRIPT)
        lines = list(caplog.records)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert_one_warning_without_traceback(lines)


@pytest.mark.parametrize("path", POLLS)
def test_a_poll_the_database_was_too_busy_for_is_the_contracts_json_503(user, path):
    browser = signed_in(user)

    with timeouts(lock_ms=200, statement_ms=15000), row_locked(SESSIONS_LOCKED, []):
        response = browser.get(path, **SCRIPT)

    assert response.status_code == 503
    assert response.json() == BUSY
    assert response["Retry-After"] == str(LOCK_TIMEOUT_SECONDS)


@pytest.mark.parametrize("path", ["/invoices", "/account/balance"])
def test_a_navigation_while_the_database_is_down_is_the_unavailable_page(user, path):
    browser = signed_in(user)

    with down():
        response = browser.get(path, **NAVIGATION)

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>Temporarily unavailable</h1>" in response.content.decode()


def test_a_navigation_the_database_was_too_busy_for_is_the_busy_page(user):
    browser = signed_in(user)

    with timeouts(lock_ms=200, statement_ms=15000), row_locked(SESSIONS_LOCKED, []):
        response = browser.get("/invoices", **NAVIGATION)

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>Busy, please try again</h1>" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "lock"),
    [
        ("/invoices", SESSIONS_LOCKED),
        ("/api/v1/user/tokens/balance", "LOCK TABLE tokens_tokenaccount IN ACCESS EXCLUSIVE MODE"),
    ],
)
def test_a_request_the_database_was_too_busy_for_is_one_warning_line(user, caplog, path, lock):
    """PostgreSQL's message for a statement it gave up on goes on with the statement's text
    and a caret under it (`LINE 1: ...`), which made the warning three lines, one of them
    part of our SQL."""
    browser = signed_in(user)
    api = client_for(user)

    with timeouts(lock_ms=200, statement_ms=15000), row_locked(lock, []):
        caplog.clear()
        response = (api if path.startswith("/api/") else browser).get(path)
        lines = [record for record in caplog.records if record.name != "access"]

    assert response.status_code == 503
    assert [(line.levelname, line.exc_info or line.exc_text) for line in lines] == [
        ("WARNING", None)
    ]
    assert "lock timeout" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()
