"""A hold or a capture asked of the services straight (not through the API) on SQLite, whose
IMMEDIATE transaction waits at BEGIN for another writer's lock, across an `expires_at`: it is
judged at the time the lock is granted, as on PostgreSQL (tests/test_debits_late.py), not at
the time it was asked."""

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections

from accounts.tests.factories import UserFactory
from common.tests.waits import wait_until
from tokens import selectors, services
from tokens.ledger import InsufficientTokens
from tokens.models import Hold, TokenTransaction, UsageRecord
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db(transaction=True)]

START = datetime(2026, 8, 1, tzinfo=UTC)
EXPIRES = START + timedelta(seconds=60)


@pytest.fixture(autouse=True)
def _on_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's wait at BEGIN; PostgreSQL's is tests/test_debits_late.py")


def _asked_across_the_expiry(clock, ask) -> object:
    """`ask()` on a thread of its own, a second before EXPIRES, while another connection holds
    SQLite's write lock; the lock is let go a second after EXPIRES. What it answered or
    raised."""
    answers, waiting = {}, threading.Event()

    def run() -> None:
        connection.ensure_connection()
        # Called as BEGIN IMMEDIATE starts, before SQLite waits there for the lock.
        connection.connection.set_trace_callback(
            lambda sql: waiting.set() if sql.startswith("BEGIN") else None
        )
        try:
            answers["asked"] = ask()
        except Exception as error:  # the test inspects the refusal
            answers["asked"] = error
        finally:
            connections.close_all()

    clock.move_to(EXPIRES - timedelta(seconds=1))
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        asker = threading.Thread(target=run)
        asker.start()
        wait_until(lambda: waiting.is_set() or "asked" in answers)
        clock.move_to(EXPIRES + timedelta(seconds=1))
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    asker.join()
    return answers["asked"]


def test_a_hold_granted_the_lock_after_its_only_lot_expired_is_refused():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        grant(user, 50, expires_at=EXPIRES)

        answer = _asked_across_the_expiry(
            clock, lambda: services.hold_create(user_id=user.pk, amount=50, ttl_seconds=600)
        )

        assert isinstance(answer, InsufficientTokens), answer
        assert Hold.objects.count() == 0
        shown = selectors.token_balance(user_id=user.pk)
        assert (shown.balance, shown.available, shown.held) == (0, 0, 0)


def test_a_hold_granted_the_lock_later_lasts_its_ttl_from_then():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        fund(user, 100)

        answer = _asked_across_the_expiry(
            clock, lambda: services.hold_create(user_id=user.pk, amount=10, ttl_seconds=60)
        )

        granted = EXPIRES + timedelta(seconds=1)
        assert (answer.hold.created_at, answer.hold.expires_at) == (
            granted,
            granted + timedelta(seconds=60),
        )


def test_a_capture_granted_the_lock_after_the_hold_expired_is_refused():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        fund(user, 100)
        hold = services.hold_create(user_id=user.pk, amount=30, ttl_seconds=60).hold
        entries = TokenTransaction.objects.count()

        answer = _asked_across_the_expiry(
            clock, lambda: services.hold_capture(user_id=user.pk, hold_id=hold.pk, amount=30)
        )

        assert isinstance(answer, services.HoldExpired), answer
        hold.refresh_from_db()
        assert (hold.status, hold.captured) == ("active", 0)
        assert TokenTransaction.objects.count() == entries
        assert UsageRecord.objects.count() == 0
        shown = selectors.token_balance(user_id=user.pk)
        assert (shown.balance, shown.available) == (100, 100)
        assert list(selectors.ledger_check()) == []
