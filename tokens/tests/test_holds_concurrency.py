"""Holds and usage under real concurrency on PostgreSQL: threads with their own connections,
started together."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.concurrency import run_together
from conftest import client_for
from tokens import selectors, services
from tokens.ledger import Work
from tokens.models import Hold, TokenAccount, TokenTransaction, UsageRecord
from tokens.tests.factories import fund

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.through_pgbouncer,
    pytest.mark.sqlite,
]

START = datetime(2026, 8, 1, tzinfo=UTC)


def test_60_holds_of_1_on_30_available_hold_exactly_30():
    user = UserFactory()
    fund(user, 30)

    outcomes = run_together(
        [lambda: services.hold_create(user_id=user.pk, amount=1)] * 60, workers=8
    )

    made = [o for o in outcomes if isinstance(o, services.Reservation)]
    refused = [o for o in outcomes if isinstance(o, services.InsufficientTokens)]
    assert (len(made), len(refused)) == (30, 30)
    assert selectors.token_balance(user_id=user.pk).available == 0
    assert Hold.objects.filter(account__user=user).count() == 30


def race(user, made: Hold, clock, start: datetime) -> list:
    """A capture, a release, the sweep, and the clock reaching the hold's expiry, at once."""
    return [
        lambda: services.hold_capture(user_id=user.pk, hold_id=made.pk, amount=4),
        lambda: services.hold_release(user_id=user.pk, hold_id=made.pk),
        lambda: clock.move_to(start + timedelta(seconds=30)),
        services.holds_expire,
    ]


def test_capture_release_and_expiry_of_one_hold_end_in_exactly_one_outcome():
    user = UserFactory()
    fund(user, 1000)
    with time_machine.travel(START, tick=False) as clock:
        for round_number in range(12):
            start = START + timedelta(minutes=round_number)
            clock.move_to(start)
            made = services.hold_create(user_id=user.pk, amount=10, ttl_seconds=30).hold
            clock.move_to(start + timedelta(seconds=29, microseconds=999_990))
            outcomes = run_together(race(user, made, clock, start), workers=4)

            made.refresh_from_db()
            captured = [o for o in outcomes if isinstance(o, services.Capture)]
            released = [o for o in outcomes if isinstance(o, Hold)]
            if made.status == "active":
                services.holds_expire()
                made.refresh_from_db()
            assert made.status in {"captured", "released", "expired"}
            assert len(captured) + len(released) <= 1
            assert (made.status == "captured") == bool(captured)
            assert (made.status == "released") == bool(released)
    usage = UsageRecord.objects.filter(account__user=user)
    assert usage.count() == Hold.objects.filter(status="captured").count()
    assert selectors.token_balance(user_id=user.pk).held == 0
    assert list(selectors.ledger_check()) == []


def test_10_concurrent_captures_with_one_key_debit_once():
    user = UserFactory()
    fund(user, 100)
    made = services.hold_create(user_id=user.pk, amount=50).hold
    url = f"/api/v1/user/holds/{made.pk}/capture"

    def capture():
        response = client_for(user).post(url, {"amount": 20}, HTTP_IDEMPOTENCY_KEY="one")
        return response.status_code, response.json()

    outcomes = run_together([capture] * 10, workers=10)

    assert {status for status, _ in outcomes} == {200}
    assert all(body == outcomes[0][1] for _, body in outcomes)
    assert (
        TokenTransaction.objects.filter(account__user=user, transaction_type="usage").count() == 1
    )
    assert selectors.token_balance(user_id=user.pk).balance == 80


def test_usage_with_one_key_from_10_workers_makes_one_record():
    user = UserFactory()
    fund(user, 100)

    def use():
        response = client_for(user).post(
            "/api/v1/user/usage", {"amount": 7, "feature": "f"}, HTTP_IDEMPOTENCY_KEY="same"
        )
        return response.status_code, response.json()

    outcomes = run_together([use] * 10, workers=10)

    assert {status for status, _ in outcomes} == {201}
    assert all(body == outcomes[0][1] for _, body in outcomes)
    assert UsageRecord.objects.filter(account__user=user).count() == 1
    assert selectors.token_balance(user_id=user.pk).balance == 93


def test_usage_streaming_across_the_end_of_an_unlimited_plan_switches_to_tokens_at_that_instant():
    """Usage from 8 threads while the clock passes the plan's end: every usage recorded before
    the end is covered, every one at or after it is charged, none both."""
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)
        fund(user, 1000)
        ends = TokenAccount.objects.get(user=user).unlimited_until
        clock.move_to(ends - timedelta(seconds=2))

        def use(n: int):
            return lambda: services.usage_record(
                user_id=user.pk, work=Work(amount=1, usage_key=f"u{n}")
            )

        calls = [use(n) for n in range(80)]
        for position in range(10, 80, 10):
            calls.insert(position, lambda: clock.shift(timedelta(milliseconds=500)))
        outcomes = run_together(calls, workers=8)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    records = UsageRecord.objects.filter(account__user=user)
    assert records.count() == 80
    for record in records:
        expected = "subscription" if record.created_at < ends else "tokens"
        assert record.source == expected, (record.created_at, ends)
    assert records.filter(source="subscription").exists()
    assert records.filter(source="tokens").exists()
    assert (
        selectors.token_balance(user_id=user.pk).balance
        == 1000 - records.filter(source="tokens").count()
    )
