"""Captures on PostgreSQL (`tokens_debit`, tokens 0017) and on SQLite (`debit_python`) give the
same answers: the same sequences, one table of expected answers, run on both databases
(docs/decisions.md, "Holds: a capture when the holds reserve more than there is")."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from tokens import selectors, services
from tokens.models import Hold, TokenAccount, TokenAllocation
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
HOLDS = "/api/v1/user/holds"
HOUR = 3600


@dataclass(frozen=True)
class Lot:
    amount: int
    priority: int
    expires_in: int | None = None  # seconds after NOW
    voided: bool = False


@dataclass(frozen=True)
class Case:
    lots: list[Lot]
    holds: list[tuple[int, int]]  # (amount, ttl_seconds) reserving tokens
    steps: list[tuple[int, int, bool]]  # (hold index, amount, final)
    answers: list[tuple]  # (200, charged, hold status, hold captured) or (status, code, ...)
    after: tuple[int, int, int]  # balance, held, available as shown at the end
    covered: list[int] = field(default_factory=list)  # holds made under an unlimited plan
    later: int = 0  # seconds the clock moves on after the holds (and voids)
    taken: dict[int, int] = field(default_factory=dict)  # lot index: tokens captures took


CASES = {
    "normal": Case(
        lots=[Lot(100, 10)],
        holds=[(30, HOUR), (50, HOUR)],
        steps=[(0, 30, True), (1, 20, True)],
        answers=[(200, 30, "captured", 30), (200, 20, "captured", 20)],
        after=(50, 0, 50),
        taken={0: 50},
    ),
    "short-first-in-full": Case(
        lots=[Lot(70, 10), Lot(30, 20, voided=True)],
        holds=[(50, HOUR), (50, HOUR)],
        steps=[(0, 50, True), (1, 50, True)],
        answers=[(200, 50, "captured", 50), (200, 20, "captured", 50)],
        after=(0, 0, 0),
        taken={0: 70},
    ),
    "short-then-nothing": Case(
        lots=[Lot(40, 10), Lot(60, 20, voided=True)],
        holds=[(50, HOUR), (50, HOUR)],
        steps=[(0, 50, True), (1, 50, True)],
        answers=[(200, 40, "captured", 50), (402, 0, 0, 50)],
        after=(0, 50, -50),
        taken={0: 40},
    ),
    "zero-balance": Case(
        lots=[Lot(100, 10, voided=True)],
        holds=[(50, HOUR), (50, HOUR)],
        steps=[(0, 10, False), (1, 50, True)],
        answers=[(402, 0, -50, 10), (402, 0, -50, 50)],
        after=(0, 100, -100),
    ),
    "short-steps": Case(
        lots=[Lot(30, 10), Lot(70, 20, voided=True)],
        holds=[(50, HOUR), (50, HOUR)],
        steps=[(0, 20, False), (0, 20, False), (1, 5, False), (0, 10, True)],
        answers=[
            (200, 20, "active", 20),
            (200, 10, "active", 40),
            (402, 0, -10, 5),
            (402, 0, -50, 10),
        ],
        after=(0, 60, -60),
        taken={0: 30},
    ),
    "not-short-steps": Case(
        lots=[Lot(100, 10), Lot(20, 20, voided=True)],
        holds=[(30, HOUR), (50, HOUR)],
        steps=[(0, 10, False), (1, 50, True), (0, 20, False)],
        answers=[(200, 10, "active", 10), (200, 50, "captured", 50), (200, 20, "captured", 30)],
        after=(20, 0, 20),
        taken={0: 80},
    ),
    "covered-hold": Case(
        lots=[Lot(40, 10), Lot(60, 20, voided=True)],
        holds=[(50, HOUR), (50, HOUR)],
        covered=[70],
        steps=[(2, 70, True), (0, 50, True), (1, 10, True)],
        answers=[(200, 0, "captured", 70), (200, 40, "captured", 50), (402, 0, 0, 10)],
        after=(0, 50, -50),
        taken={0: 40},
    ),
    "other-hold-expired": Case(
        lots=[Lot(40, 10), Lot(60, 20, voided=True)],
        holds=[(50, 2 * HOUR), (50, HOUR)],
        later=HOUR,
        steps=[(0, 30, False), (0, 20, True), (1, 10, True)],
        answers=[(200, 30, "active", 30), (200, 10, "captured", 50), (409, "hold_expired")],
        after=(0, 0, 0),
        taken={0: 40},
    ),
    "lot-expires-at-the-capture": Case(
        lots=[Lot(60, 10, expires_in=HOUR), Lot(40, 20)],
        holds=[(50, 2 * HOUR), (50, 2 * HOUR)],
        later=HOUR,
        steps=[(0, 50, True), (1, 50, True)],
        answers=[(200, 40, "captured", 50), (402, 0, 0, 50)],
        after=(0, 50, -50),
        taken={1: 40},
    ),
    "lot-expires-after-the-capture": Case(
        lots=[Lot(60, 10, expires_in=HOUR), Lot(40, 20)],
        holds=[(50, 2 * HOUR), (50, 2 * HOUR)],
        later=HOUR - 1,
        steps=[(0, 50, True), (1, 50, True)],
        answers=[(200, 50, "captured", 50), (200, 50, "captured", 50)],
        after=(0, 0, 0),
        taken={0: 60, 1: 40},
    ),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_captures_answer_the_same_on_both_databases(user_client, user, name):
    case = CASES[name]
    with time_machine.travel(NOW, tick=False) as clock:
        lots = [
            grant(
                user,
                lot.amount,
                priority=lot.priority,
                expires_at=NOW + timedelta(seconds=lot.expires_in) if lot.expires_in else None,
            )
            for lot in case.lots
        ]
        made = [
            services.hold_create(
                user_id=user.pk, amount=amount, ttl_seconds=ttl, idempotency_key=f"h{index}"
            ).hold
            for index, (amount, ttl) in enumerate(case.holds)
        ]
        if case.covered:
            capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)
            made += [
                services.hold_create(
                    user_id=user.pk, amount=amount, idempotency_key=f"c{amount}"
                ).hold
                for amount in case.covered
            ]
            assert {hold.source for hold in made[len(case.holds) :]} == {"subscription"}
        for lot, spec in zip(lots, case.lots, strict=True):
            if spec.voided:
                services.lot_void(lot_id=lot.pk, reason="test", actor_id=None)
        clock.shift(timedelta(seconds=case.later))

        answers = []
        for number, (index, amount, final) in enumerate(case.steps):
            response = user_client.post(
                f"{HOLDS}/{made[index].pk}/capture",
                {"amount": amount, "final": final},
                HTTP_IDEMPOTENCY_KEY=f"s{number}",
            )
            body = response.json()
            if response.status_code == 200:
                hold = body["hold"]
                answers.append((200, body["usage"]["charged"], hold["status"], hold["captured"]))
            elif response.status_code == 402:
                answers.append((402, body["balance"], body["available"], body["needed"]))
            else:
                answers.append((response.status_code, body["code"]))
        shown = selectors.token_balance(user_id=user.pk)
        stored_held = TokenAccount.objects.get(user=user).held
        active = Hold.objects.filter(account__user=user, status="active", source="tokens")
        reserved = sum(hold.amount - hold.captured for hold in active)

        assert answers == case.answers
        assert (shown.balance, shown.held, shown.available) == case.after
        assert stored_held == reserved
        usage = TokenAllocation.objects.filter(entry__transaction_type="usage")
        assert {
            index: -sum(a.amount for a in usage.filter(lot=lot))
            for index, lot in enumerate(lots)
            if usage.filter(lot=lot).exists()
        } == case.taken
        services.lots_expire()
        services.holds_expire()
        assert list(selectors.ledger_check()) == []
