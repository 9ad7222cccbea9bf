"""Persistent connections are checked before reuse only when they sat idle: a busy worker
does not pay a `SELECT 1` round trip on every request, and a connection the database dropped
while idle is still replaced before a request uses it. PostgreSQL only (the check is its
backend's; SQLite has no connection to lose)."""

import psycopg
import pytest
from django.db import connection

from common.postgresql import base

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request() -> None:
    """What Django does between requests: the next one checks the connection again."""
    connection.close_if_unusable_or_obsolete()


@pytest.fixture
def health_checks(monkeypatch):
    checks = []
    usable = connection.is_usable

    def counted() -> bool:
        checks.append(True)
        return usable()

    monkeypatch.setattr(connection, "is_usable", counted)
    return checks


def test_a_connection_used_a_moment_ago_is_not_checked_again(health_checks, monkeypatch):
    # A window no stall of a loaded machine outlasts: with the real second, a busy CI run
    # once took longer than that between the two reads.
    monkeypatch.setattr(base, "HEALTH_CHECK_IDLE_SECONDS", 3600)
    first = backend_pid()
    next_request()

    again = backend_pid()

    assert (health_checks, again) == ([], first)


def test_an_idle_connection_is_checked_and_kept_when_it_answers(health_checks, monkeypatch):
    first = backend_pid()
    monkeypatch.setattr(base, "HEALTH_CHECK_IDLE_SECONDS", 0)
    next_request()

    again = backend_pid()

    assert (health_checks, again) == ([True], first)


def test_an_idle_connection_the_database_dropped_is_replaced_before_use(monkeypatch):
    dropped = backend_pid()
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres"
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dropped])
    monkeypatch.setattr(base, "HEALTH_CHECK_IDLE_SECONDS", 0)
    next_request()

    replaced = backend_pid()

    assert replaced != dropped
