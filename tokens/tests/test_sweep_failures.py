"""One account the expiry sweeps cannot finish (its row held by a stuck transaction, past
the lock timeout) no longer ends the run for every account after it: those were left
unbooked until the next minute's run, and the one after, for as long as the lock was held
(holds still recorded active, `hold.expired` and `lot.expired` never sent). Each account
runs on its own; a failure is logged with its traceback and the sweep still fails, naming
the accounts it could not finish (as the daily purges do, c4caa95)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from common.tests.waits import row_locked, timeouts
from jobs import tasks
from tokens import services
from tokens.models import Hold, TokenAccount, TokenLot
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
LOCK_ACCOUNT = "SELECT 1 FROM tokens_tokenaccount WHERE id = %s FOR UPDATE"


def two_accounts() -> tuple[TokenAccount, TokenAccount]:
    """The first account the sweeps visit (they go by id) and the one after it."""
    for user in (UserFactory(), UserFactory()):
        fund(user, 50)
    first, second = TokenAccount.objects.order_by("pk")
    return first, second


def test_an_account_the_hold_sweep_cannot_lock_leaves_the_others_recorded(caplog):
    stuck, other = two_accounts()
    with time_machine.travel(NOW, tick=False):
        for account in (stuck, other):
            services.hold_create(user_id=account.user_id, amount=5, ttl_seconds=60)

    with (
        time_machine.travel(NOW + timedelta(minutes=2), tick=False),
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(LOCK_ACCOUNT, [stuck.pk]),
        pytest.raises(Exception, match=r"(?i)lock timeout|could not expire") as failed,
    ):
        services.holds_expire()

    assert Hold.objects.get(account=other).status == "expired"
    assert Hold.objects.get(account=stuck).status == "active"
    assert type(failed.value).__name__ == "SweepIncomplete"
    assert str(stuck.pk) in str(failed.value)
    assert f"could not expire the holds of account {stuck.pk}" in caplog.text
    assert "Traceback" in caplog.text


def test_an_account_the_lot_sweep_cannot_lock_leaves_the_others_booked(caplog):
    stuck, other = two_accounts()
    with time_machine.travel(NOW, tick=False):
        for account in (stuck, other):
            grant(account.user, 5, expires_at=NOW + timedelta(minutes=1))

    with (
        time_machine.travel(NOW + timedelta(minutes=2), tick=False),
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(LOCK_ACCOUNT, [stuck.pk]),
        pytest.raises(Exception, match=r"(?i)lock timeout|could not expire") as failed,
    ):
        services.lots_expire()

    assert TokenLot.objects.get(account=other, category="promotional", amount=5).remaining == 0
    assert TokenLot.objects.get(account=stuck, category="promotional", amount=5).remaining == 5
    assert type(failed.value).__name__ == "SweepIncomplete"
    assert str(stuck.pk) in str(failed.value)
    assert f"could not expire the lots of account {stuck.pk}" in caplog.text
    assert "Traceback" in caplog.text


def test_lots_expiring_soon_are_told_when_the_lot_sweep_cannot_lock_an_account():
    stuck, other = two_accounts()
    with time_machine.travel(NOW, tick=False):
        grant(stuck.user, 5, expires_at=NOW + timedelta(minutes=1))
        soon = grant(other.user, 5, expires_at=NOW + timedelta(days=3))

    with (
        time_machine.travel(NOW + timedelta(minutes=2), tick=False),
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(LOCK_ACCOUNT, [stuck.pk]),
        pytest.raises(Exception, match=str(stuck.pk)),
    ):
        tasks.expire_lots.call()

    assert TokenLot.objects.get(pk=soon.pk).expiry_warned_at is not None
