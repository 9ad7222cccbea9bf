"""Captures on a short account (the holds reserve more than the balance) racing each other, a
release, the expiry sweeps and a usage, on PostgreSQL: threads with their own connections.
Whatever the order: the balance never goes below 0, each entry's allocations add up to it,
what the account holds is what its active holds reserve, and the ledger check is clean."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from common.tests.concurrency import meeting, run_together
from tokens import selectors, services
from tokens.ledger import Work
from tokens.models import Hold, TokenAccount, UsageRecord
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db(transaction=True)]

START = datetime(2026, 8, 1, tzinfo=UTC)
ROUNDS = 6


def short_account(*, kept: int, gone: int, holds: list[int], expiring: bool = False):
    """`kept` tokens that stay, `gone` that a void takes away (or that expire at START + 1 h,
    with `expiring`), holds of `holds` made while there were enough."""
    user = UserFactory()
    grant(user, kept, priority=20)
    expires_at = START + timedelta(hours=1) if expiring else None
    lot = grant(user, gone, priority=10, expires_at=expires_at) if gone else None
    made = [
        services.hold_create(user_id=user.pk, amount=amount, ttl_seconds=7200).hold
        for amount in holds
    ]
    if lot and not expiring:
        services.lot_void(lot_id=lot.pk, reason="test", actor_id=None)
    return user, made


def capture(user, hold: Hold, amount: int):
    return lambda: services.hold_capture(user_id=user.pk, hold_id=hold.pk, amount=amount)


def charged(outcomes) -> list[int]:
    return sorted(o.used.usage.charged for o in outcomes if isinstance(o, services.Capture))


def refused(outcomes) -> int:
    return sum(isinstance(o, services.InsufficientTokens) for o in outcomes)


def assert_sound(user) -> None:
    account = TokenAccount.objects.get(user=user)
    active = Hold.objects.filter(account=account, status="active", source="tokens")
    assert account.balance >= 0
    assert account.held == sum(hold.amount - hold.captured for hold in active)
    assert list(selectors.ledger_check()) == []


@pytest.mark.parametrize(
    ("kept", "answers"),
    [(40, ([40], 1)), (70, ([20, 50], 0))],
    ids=["nothing-left-for-the-second", "the-second-takes-the-rest"],
)
def test_two_captures_of_two_holds_on_a_short_account_at_once(kept, answers):
    with time_machine.travel(START, tick=False):
        for _ in range(ROUNDS):
            user, (first, second) = short_account(kept=kept, gone=100 - kept, holds=[50, 50])

            outcomes = run_together(
                [capture(user, first, 50), capture(user, second, 50)], workers=2
            )

            assert (charged(outcomes), refused(outcomes)) == answers
            assert selectors.token_balance(user_id=user.pk).balance == 0
            assert_sound(user)


@pytest.mark.parametrize("order", ["capture-first", "release-first"], ids=str)
def test_a_capture_and_the_release_of_the_other_hold_in_either_order(order):
    """60 left under two holds of 50: the capture is charged 50 whichever commits first, and
    10 stay (nothing reserves them afterwards)."""
    with time_machine.travel(START, tick=False):
        user, (first, second) = short_account(kept=60, gone=40, holds=[50, 50])
        calls = [
            capture(user, first, 50),
            lambda: services.hold_release(user_id=user.pk, hold_id=second.pk),
        ]
        if order == "release-first":
            calls.reverse()

        answers = meeting(*calls)

        assert not any(isinstance(a, Exception) for a in answers.values()), answers
        shown = selectors.token_balance(user_id=user.pk)
        assert (shown.balance, shown.held, shown.available) == (10, 0, 10)
        assert_sound(user)


def test_captures_racing_releases_at_random():
    with time_machine.travel(START, tick=False):
        for _ in range(ROUNDS):
            user, (first, second) = short_account(kept=60, gone=40, holds=[50, 50])

            run_together(
                [
                    capture(user, first, 50),
                    partial(services.hold_release, user_id=user.pk, hold_id=second.pk),
                ],
                workers=2,
            )

            assert UsageRecord.objects.get(account__user=user).charged == 50
            assert selectors.token_balance(user_id=user.pk).balance == 10
            assert_sound(user)


@pytest.mark.parametrize("sweep", ["lots", "holds"], ids=str)
@pytest.mark.parametrize("order", ["capture-first", "sweep-first"], ids=str)
def test_a_capture_racing_the_expiry_sweep_at_the_instant_a_lot_expires(sweep, order):
    """40 stay and 60 expire at START + 1 h under two holds of 50 (the second expiring then
    too, for the holds' sweep): the capture at that instant takes the 40, never the expired
    lot, whichever commits first."""
    with time_machine.travel(START, tick=False) as clock:
        user, (first,) = short_account(kept=40, gone=60, holds=[50], expiring=True)
        services.hold_create(user_id=user.pk, amount=50, ttl_seconds=3600)
        clock.move_to(START + timedelta(hours=1))
        sweeping = services.lots_expire if sweep == "lots" else services.holds_expire
        calls = [capture(user, first, 50), sweeping]
        if order == "sweep-first":
            calls.reverse()

        answers = meeting(*calls)

        assert not any(isinstance(a, Exception) for a in answers.values()), answers
        assert UsageRecord.objects.get(account__user=user).charged == 40
        services.lots_expire()
        services.holds_expire()
        shown = selectors.token_balance(user_id=user.pk)
        assert (shown.balance, shown.held, shown.available) == (0, 0, 0)
        assert_sound(user)


@pytest.mark.parametrize(
    ("kept", "used", "answers"),
    [(70, 10, (50, False)), (100, 50, (50, True))],
    ids=["short-usage-refused", "not-short-both-in-full"],
)
@pytest.mark.parametrize("order", ["capture-first", "usage-first"], ids=str)
def test_a_capture_racing_a_usage(order, kept, used, answers):
    """Short (70 under two holds of 50), a usage needs what is available and is refused
    whichever commits first; not short (100 under one hold of 50), both are charged in full."""
    with time_machine.travel(START, tick=False):
        holds = [50, 50] if kept < 100 else [50]
        user, made = short_account(kept=kept, gone=100 - kept, holds=holds)
        calls = [
            capture(user, made[0], 50),
            lambda: services.usage_record(user_id=user.pk, work=Work(amount=used)),
        ]
        if order == "usage-first":
            calls.reverse()

        outcomes = list(meeting(*calls).values())

        in_full, usage_done = answers
        assert charged(outcomes) == [in_full]
        assert refused(outcomes) == (0 if usage_done else 1)
        assert_sound(user)
