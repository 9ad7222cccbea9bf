"""What the stateful models of the ledger (hypothesis) keep of lots and holds, and how they
run, shared by the lots, holds and holds-over-lots models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import time_machine
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant

from tokens import selectors
from tokens.models import CATEGORY_ORDER, Hold, TokenLot

# Sorts after nothing: a lot without an expiry is placed by `expires_at is None` first.
_NO_EXPIRY = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class ModelLot:
    id: UUID
    category: str
    remaining: int
    expires_at: datetime | None
    priority: int
    created_at: datetime
    voided: bool = False

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def closed(self, now: datetime) -> bool:
        return self.voided or self.expired(now)

    def order(self) -> tuple:
        """The burn order (docs/decisions.md, "Lots")."""
        return (
            self.priority,
            self.expires_at is None,
            self.expires_at or _NO_EXPIRY,
            CATEGORY_ORDER.index(self.category),
            self.created_at,
            self.id,
        )


@dataclass
class ModelHold:
    amount: int
    expires_at: datetime
    captured: int = 0
    status: str = "active"

    def open(self, now: datetime) -> bool:
        return self.status == "active" and self.expires_at > now


class HoldsMatchTheModel:
    """The invariants of a model with holds: it keeps `balance`, `held` and `holds` (by id)."""

    @invariant()
    def balance_and_available_match_the_model(self):
        shown = selectors.token_balance(user_id=self.user.pk)
        assert (shown.balance, shown.held, shown.available) == (
            self.balance,
            self.held,
            self.balance - self.held,
        )

    @invariant()
    def every_hold_matches_the_model(self):
        stored = {
            hold.pk: (hold.captured, hold.status)
            for hold in Hold.objects.filter(account__user=self.user)
        }
        assert stored == {key: (h.captured, h.status) for key, h in self.holds.items()}


class LotsMatchTheModel:
    """The invariant of a model with lots: it keeps `lots` (ModelLot by id)."""

    @invariant()
    def every_lot_holds_what_the_model_says(self):
        stored = dict(
            TokenLot.objects.filter(account__user=self.user).values_list("id", "remaining")
        )
        assert stored == {lot_id: lot.remaining for lot_id, lot in self.lots.items()}


def run_model(machine: type[RuleBasedStateMachine], *, start: datetime, steps: int) -> None:
    """Runs `machine` with the clock held at `start` (its rules move it: `machine.clock`)."""
    with time_machine.travel(start, tick=False) as clock:
        machine.clock = clock
        machine.TestCase.settings = settings(
            max_examples=25,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        machine.TestCase().runTest()
