"""The worker's sweeps beside requests, on PostgreSQL with real threads, each with its own
connection: a sweep never waits for a lot a request holds, so they never deadlock."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from accounts.tests.factories import UserFactory
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from tokens import services
from tokens.models import TokenLot
from tokens.tests.factories import grant

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_expiry_warning_sweep_and_a_debit_taking_the_same_lots_both_finish():
    """The sweep locked the lots it warns in expiry order, a debit in burn order (priority
    first). With the lot warned first held for a moment, the sweep waited for it, the debit
    took the other and waited too; once it was free each held what the other needed, and
    PostgreSQL aborted one of them as a deadlock: the sweep's run, or the debit."""
    user = UserFactory()
    now = timezone.now()
    grant(user, 5, priority=0, expires_at=now + timedelta(days=6))  # burned first, warned last
    warned_first = grant(user, 5, priority=50, expires_at=now + timedelta(days=5))
    outcomes: dict[str, object] = {}

    def sweep() -> None:
        try:
            outcomes["sweep"] = services.lots_warn_expiring()
        except Exception as error:  # the test reports whatever the sweep raised
            outcomes["sweep"] = error
        finally:
            connections.close_all()

    def debit() -> None:
        try:
            outcomes["debit"] = services.tokens_debit(user_id=user.pk, amount=10).amount
        except Exception as error:  # the test reports whatever the debit raised
            outcomes["debit"] = error
        finally:
            connections.close_all()

    sql = "SELECT 1 FROM tokens_tokenlot WHERE id = %s FOR UPDATE"
    with row_locked(sql, [warned_first.pk]):
        sweeping = threading.Thread(target=sweep)
        sweeping.start()
        wait_until(lambda: "sweep" in outcomes or sessions_waiting_on_a_lock() >= 1)
        debiting = threading.Thread(target=debit)
        debiting.start()
        wait_until(lambda: sessions_waiting_on_a_lock() >= 2 or "sweep" in outcomes)
    sweeping.join()
    debiting.join()

    # The lot it found locked is left to its next run, a minute later (spent by then).
    assert outcomes == {"sweep": 1, "debit": -10}
    assert TokenLot.objects.filter(remaining__gt=0).count() == 0
