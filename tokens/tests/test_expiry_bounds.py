"""An account keeps two lower bounds: the soonest expiry of an active hold
(`next_hold_expiry_at`) and of a lot with tokens in it (`next_expiry_at`). While they are
ahead, a debit reads no holds and no expired lots. A captured hold, or a lot emptied before it
expired, leaves its bound behind, so the first debit or hold after that time reads them and
moves the bound on; an expired hold or lot not yet swept keeps it where it is, since what is
held and the stored balance still count it."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tokens import selectors, services
from tokens.models import TokenAccount, UnlimitedCoverage
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def bound(user) -> datetime | None:
    return TokenAccount.objects.get(user=user).next_hold_expiry_at


def lot_bound(user) -> datetime | None:
    return TokenAccount.objects.get(user=user).next_expiry_at


def held_and_captured(user, amount: int, *, ttl_seconds: int):
    made = services.hold_create(user_id=user.pk, amount=amount, ttl_seconds=ttl_seconds).hold
    services.hold_capture(user_id=user.pk, hold_id=made.pk, amount=amount)
    return made


def test_a_debit_after_a_captured_holds_time_moves_the_bound_on(user, clock):
    fund(user, 100)
    held_and_captured(user, 10, ttl_seconds=60)
    assert bound(user) == NOW + timedelta(seconds=60)

    clock.move_to(NOW + timedelta(minutes=5))
    services.tokens_debit(user_id=user.pk, amount=1)

    assert bound(user) is None
    assert selectors.token_balance(user_id=user.pk).available == 89


def test_the_bound_moves_to_the_next_active_hold(user, clock):
    fund(user, 100)
    held_and_captured(user, 10, ttl_seconds=60)
    later = services.hold_create(user_id=user.pk, amount=20, ttl_seconds=3600).hold

    clock.move_to(NOW + timedelta(minutes=5))
    services.tokens_debit(user_id=user.pk, amount=1)

    assert bound(user) == later.expires_at
    assert selectors.token_balance(user_id=user.pk).available == 100 - 10 - 20 - 1


def test_a_hold_made_after_the_bound_passed_moves_it_to_the_soonest_active(user, clock):
    fund(user, 100)
    held_and_captured(user, 10, ttl_seconds=60)
    later = services.hold_create(user_id=user.pk, amount=20, ttl_seconds=3600).hold

    clock.move_to(NOW + timedelta(minutes=5))
    services.hold_create(user_id=user.pk, amount=5, ttl_seconds=7200)

    assert bound(user) == later.expires_at
    assert selectors.token_balance(user_id=user.pk).held == 25


def test_an_expired_hold_not_yet_swept_keeps_the_bound_until_the_sweep(user, clock):
    fund(user, 100)
    expiring = services.hold_create(user_id=user.pk, amount=30, ttl_seconds=60).hold
    services.hold_create(user_id=user.pk, amount=20, ttl_seconds=3600)

    clock.move_to(NOW + timedelta(minutes=5))
    services.tokens_debit(user_id=user.pk, amount=1)
    kept = bound(user)
    available = selectors.token_balance(user_id=user.pk).available
    services.holds_expire()

    assert kept == expiring.expires_at
    assert available == 100 - 20 - 1
    assert bound(user) == NOW + timedelta(seconds=3600)
    assert selectors.token_balance(user_id=user.pk).available == 100 - 20 - 1


def test_a_debit_after_an_emptied_lots_expiry_moves_the_lot_bound_on(user, clock):
    grant(user, 10, expires_at=NOW + timedelta(minutes=1))
    later = NOW + timedelta(days=30)
    grant(user, 50, expires_at=later)
    fund(user, 5)
    services.tokens_debit(user_id=user.pk, amount=10)
    assert lot_bound(user) == NOW + timedelta(minutes=1)

    clock.move_to(NOW + timedelta(minutes=5))
    services.tokens_debit(user_id=user.pk, amount=1)

    assert lot_bound(user) == later
    assert selectors.token_balance(user_id=user.pk).balance == 54


def test_a_hold_after_an_emptied_lots_expiry_moves_the_lot_bound_on(user, clock):
    grant(user, 10, expires_at=NOW + timedelta(minutes=1))
    fund(user, 50)
    services.tokens_debit(user_id=user.pk, amount=10)

    clock.move_to(NOW + timedelta(minutes=5))
    services.hold_create(user_id=user.pk, amount=5)

    assert lot_bound(user) is None
    assert selectors.token_balance(user_id=user.pk).available == 45


def test_an_expired_lot_not_yet_swept_keeps_the_lot_bound_until_the_sweep(user, clock):
    expiry = NOW + timedelta(minutes=1)
    grant(user, 10, expires_at=expiry)
    fund(user, 50)

    clock.move_to(NOW + timedelta(minutes=5))
    services.tokens_debit(user_id=user.pk, amount=1)
    kept = lot_bound(user)
    shown = selectors.token_balance(user_id=user.pk).balance
    services.lots_expire()

    assert kept == expiry
    assert shown == 49
    assert lot_bound(user) is None
    assert selectors.token_balance(user_id=user.pk).balance == 49


def test_a_hold_under_an_unlimited_plan_moves_both_bounds_on(user, clock):
    """It reserves nothing, but it read the holds and lots like any hold: on PostgreSQL it
    returned before storing what it found, and SQLite's twin stored it."""
    grant(user, 10, expires_at=NOW + timedelta(minutes=1))
    fund(user, 50)
    services.tokens_debit(user_id=user.pk, amount=10)
    held_and_captured(user, 10, ttl_seconds=120)
    until = NOW + timedelta(days=1)
    TokenAccount.objects.filter(user=user).update(unlimited_until=until)
    UnlimitedCoverage.objects.create(
        account=TokenAccount.objects.get(user=user),
        subscription_id=uuid.uuid4(),
        starts_at=NOW,
        ends_at=until,
    )

    clock.move_to(NOW + timedelta(minutes=5))
    covered = services.hold_create(user_id=user.pk, amount=4, ttl_seconds=600).hold

    assert covered.source == "subscription"
    assert (bound(user), lot_bound(user)) == (None, None)
    assert selectors.token_balance(user_id=user.pk).available == 40
