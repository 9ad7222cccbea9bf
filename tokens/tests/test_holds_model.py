"""Any sequence of holds, captures, releases, debits, credits, voids, sweeps and time passing
keeps the balance, what is available and every hold where a model says they are. A void takes
tokens away under the holds, so the holds may reserve more than the balance (as after a
refund): a capture then takes what there is."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from accounts.tests.factories import UserFactory
from common.errors import InvalidState
from tokens import selectors, services
from tokens.ledger import whole_second
from tokens.models import TokenLot
from tokens.tests.factories import fund
from tokens.tests.ledger_models import HoldsMatchTheModel, ModelHold, run_model

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

START = datetime(2026, 10, 1, tzinfo=UTC)


class Holds(HoldsMatchTheModel, RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Every example starts at the same instant, so a replay while shrinking is the same.
        self.clock.move_to(START)
        self.user = UserFactory()
        self.balance = 0
        self.holds: dict[UUID, ModelHold] = {}
        self.lots: list[UUID] = []

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def held(self) -> int:
        return sum(h.amount - h.captured for h in self.holds.values() if h.open(self.now))

    @rule(amount=st.integers(1, 40))
    def credit(self, amount):
        # A microsecond apart, so lots burn in one order (equal times fall back on random ids)
        # and a replay while shrinking voids what the first run did.
        self.clock.shift(timedelta(microseconds=1))
        self.lots.append(TokenLot.objects.get(credit=fund(self.user, amount)).pk)
        self.balance += amount

    @rule(amount=st.integers(1, 40))
    def debit(self, amount):
        if amount > self.balance - self.held:
            with pytest.raises(services.InsufficientTokens):
                services.tokens_debit(user_id=self.user.pk, amount=amount)
            return
        services.tokens_debit(user_id=self.user.pk, amount=amount)
        self.balance -= amount

    @precondition(lambda self: self.lots)
    @rule(data=st.data())
    def void(self, data):
        # In the order made: ids are random, and a replay while shrinking repeats choices.
        lot = TokenLot.objects.get(pk=data.draw(st.sampled_from(self.lots)))
        if lot.remaining == 0 or lot.voided_at is not None:
            with pytest.raises(InvalidState):
                services.lot_void(lot_id=lot.pk, reason="model", actor_id=None)
            return
        services.lot_void(lot_id=lot.pk, reason="model", actor_id=None)
        self.balance -= lot.remaining

    @rule(amount=st.integers(1, 40), ttl=st.integers(1, 600))
    def hold(self, amount, ttl):
        if amount > self.balance - self.held:
            with pytest.raises(services.InsufficientTokens):
                services.hold_create(user_id=self.user.pk, amount=amount, ttl_seconds=ttl)
            return
        made = services.hold_create(user_id=self.user.pk, amount=amount, ttl_seconds=ttl).hold
        # Promised to the whole second (a credit moves the clock by a microsecond).
        self.holds[made.pk] = ModelHold(amount, whole_second(self.now + timedelta(seconds=ttl)))

    def _expected_refusal(self, hold: ModelHold, amount: int = 0):
        if hold.status == "expired" or (hold.status == "active" and not hold.open(self.now)):
            return services.HoldExpired
        if hold.status != "active":
            return InvalidState
        if amount > hold.amount - hold.captured:
            return services.ExceedsHold
        return None

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), amount=st.integers(1, 40), final=st.booleans())
    def capture(self, data, amount, final):
        # In the order made: ids are random, and a replay while shrinking repeats choices.
        hold_id = data.draw(st.sampled_from(list(self.holds)))
        hold = self.holds[hold_id]
        refusal = self._expected_refusal(hold, amount)
        if refusal is None and self.balance <= 0:
            refusal = services.InsufficientTokens
        if refusal:
            with pytest.raises(refusal):
                services.hold_capture(
                    user_id=self.user.pk, hold_id=hold_id, amount=amount, final=final
                )
            return
        others = self.held - (hold.amount - hold.captured)
        # In full while the other holds leave it that much; short, what the balance has.
        charged = amount if self.balance - others >= amount else min(amount, self.balance)
        done = services.hold_capture(
            user_id=self.user.pk, hold_id=hold_id, amount=amount, final=final
        )
        assert done.used.usage.charged == charged
        self.balance -= charged
        hold.captured += amount
        if final or hold.captured == hold.amount:
            hold.status = "captured"

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release(self, data):
        # In the order made: ids are random, and a replay while shrinking repeats choices.
        hold_id = data.draw(st.sampled_from(list(self.holds)))
        hold = self.holds[hold_id]
        refusal = self._expected_refusal(hold)
        if refusal:
            with pytest.raises(refusal):
                services.hold_release(user_id=self.user.pk, hold_id=hold_id)
            return
        services.hold_release(user_id=self.user.pk, hold_id=hold_id)
        hold.status = "released"

    @rule(seconds=st.integers(1, 400))
    def time_passes(self, seconds):
        self.clock.shift(timedelta(seconds=seconds))

    @rule()
    def sweep(self):
        services.holds_expire()
        for hold in self.holds.values():
            if hold.status == "active" and not hold.open(self.now):
                hold.status = "expired"

    @invariant()
    def the_balance_is_never_below_zero(self):
        assert self.balance >= 0

    @invariant()
    def the_audit_finds_nothing(self):
        assert list(selectors.ledger_check()) == []


def test_holds_follow_the_model():
    run_model(Holds, start=START, steps=25)
