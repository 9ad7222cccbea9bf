"""Nothing waits forever: every statement runs under DB_LOCK_TIMEOUT and DB_STATEMENT_TIMEOUT,
directly and behind PgBouncer in transaction pooling, and a request the database gave up on
answers 503 `busy` with Retry-After and changes nothing.

The waits are made real: the test holds a row lock in its own connection, as a stuck
transaction would. Against gunicorn, a client timeout bounds how long an answer may take.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client

from accounts.tests.factories import UserFactory
from billing.models import InvoiceSequence
from catalog.tests.factories import TokenBundleFactory
from common.db import database_busy
from common.tests.helpers import database_state
from common.tests.servers import the_test_database
from common.tests.timeout_helpers import ACCOUNT_LOCK, BUSY, LOCK_TIMEOUT_SECONDS, SEQUENCE_LOCK
from common.tests.waits import row_locked, timeouts
from conftest import client_for
from tokens.tests.factories import fund


def logged_besides_access(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(line.name, line.levelname) for line in caplog.records if line.name != "access"]


def current_timeouts() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
def test_every_statement_runs_under_both_timeouts_in_a_transaction_or_not():
    outside = current_timeouts()
    with transaction.atomic():
        inside = current_timeouts()

    assert outside == inside == ("3s", "15s")


@pytest.mark.django_db(transaction=True)
def test_behind_pgbouncer_a_session_set_of_another_client_never_reaches_us(request):
    """In transaction pooling a session SET stays on the server connection that ran it, for
    whoever gets that connection next; ours set their own in every transaction."""
    through = request.getfixturevalue("_pgbouncer")
    with psycopg.connect(**through, autocommit=True) as careless:
        careless.execute("SET lock_timeout = 0")
        careless.execute("SET statement_timeout = 0")
        (polluted,) = careless.execute("SELECT pg_backend_pid()").fetchone()
        assert careless.execute("SHOW lock_timeout").fetchone() == ("0",)
    database = connection.settings_dict
    saved = {name: database.get(name) for name in ("PORT", "TRANSACTION_POOLING")}
    connection.close()
    database.update(PORT=str(through["port"]), TRANSACTION_POOLING=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_backend_pid(), current_setting('lock_timeout'), "
                "current_setting('statement_timeout')"
            )
            seen = cursor.fetchone()
    finally:
        connection.close()
        database.update(saved)

    assert seen == (polluted, "3s", "15s")


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
def test_a_statement_past_the_statement_timeout_answers_503_busy_and_changes_nothing(caplog):
    """The lock timeout off, so the statement timeout is what ends the wait. The log has one
    warning line for it, not Django's "Service Unavailable" error line besides."""
    user = UserFactory()
    fund(user, 100)
    client = client_for(user)
    before = database_state()

    with timeouts(lock_ms=0, statement_ms=300), row_locked(ACCOUNT_LOCK, [user.pk]):
        caplog.clear()
        response = client.post(
            "/api/v1/user/tokens/consume", {"amount": 30}, HTTP_IDEMPOTENCY_KEY="slow"
        )
        lines = logged_besides_access(caplog)

    assert response.status_code == 503
    assert response.json() == BUSY
    assert lines == [("common.api", "WARNING")]
    assert response["Retry-After"] == str(LOCK_TIMEOUT_SECONDS)
    assert database_state() == before


@pytest.mark.django_db(transaction=True)
def test_a_page_behind_a_held_lock_answers_a_busy_page_and_changes_nothing(settings, caplog):
    """Outside DRF (the purchase form, with test payments on so it checks out): the
    middleware answers, as a page, with one warning line and no Django error line."""
    settings.PAYMENTS_TEST_MODE = True
    user = UserFactory()
    bundle = TokenBundleFactory()
    year = datetime.now(UTC).year
    InvoiceSequence.objects.create(year=year, last_number=7)
    browser = Client()
    browser.force_login(user)
    before = database_state()

    with timeouts(lock_ms=200, statement_ms=15000), row_locked(SEQUENCE_LOCK, [year]):
        caplog.clear()
        response = browser.post(
            "/purchase", {"bundles": [str(bundle.pk)], "submission": str(uuid.uuid4())}
        )
        lines = logged_besides_access(caplog)

    assert response.status_code == 503
    assert lines == [("common.api", "WARNING")]
    assert response["Retry-After"] == str(LOCK_TIMEOUT_SECONDS)
    assert b"nothing was done" in response.content
    assert database_state() == before


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_a_write_behind_another_writer_answers_503_busy_and_changes_nothing(
    settings,
):
    """SQLite's busy wait ends at BEGIN, before anything is read. (No ledger rows here: on
    SQLite the flush after this test deletes rows, which the ledger's triggers refuse.)"""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's busy timeout; PostgreSQL's lock timeout is tested above")
    user = UserFactory()
    client = client_for(user)
    before = database_state()
    connection.close()
    saved = connection.settings_dict["OPTIONS"]["timeout"]
    connection.settings_dict["OPTIONS"]["timeout"] = 0.2
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        response = client.post(
            "/api/v1/user/tokens/consume", {"amount": 30}, HTTP_IDEMPOTENCY_KEY="k"
        )
        writer.execute("ROLLBACK")
    finally:
        writer.close()
        connection.close()
        connection.settings_dict["OPTIONS"]["timeout"] = saved

    assert response.status_code == 503
    assert response.json() == BUSY
    assert database_state() == before


@pytest.mark.django_db
def test_a_database_that_refuses_a_connection_is_not_busy():
    with pytest.raises(OperationalError) as refused, connection.wrap_database_errors:
        psycopg.connect(**{**the_test_database(), "dbname": "no_such_database_here"})

    assert not database_busy(refused.value)
    assert not database_busy(RuntimeError("lock timeout"))
