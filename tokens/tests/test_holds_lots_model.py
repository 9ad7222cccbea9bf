"""Holds over lots that expire, are voided and are taken back by invoice refunds, with usage
and its refunds (a capture's usage too), both sweeps and time passing: the balance, what is
available, every lot and every hold stay where a model says, and the audit stays clean.

test_holds_model's lots never expire and it refunds nothing; test_lots_model has no holds.
Here a capture falls short when a lot expired or was taken back under its hold, and its
usage can be refunded to lots closed since."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from accounts.tests.factories import UserFactory
from billing import services as billing_services
from billing.tests.helpers import capture as pay
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from common.errors import InvalidState
from tokens import selectors, services
from tokens.ledger import Work
from tokens.models import TokenLot
from tokens.tests.ledger_models import (
    HoldsMatchTheModel,
    LotsMatchTheModel,
    ModelHold,
    ModelLot,
    run_model,
)

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

START = datetime(2026, 3, 1, tzinfo=UTC)


class HoldsOverLots(HoldsMatchTheModel, LotsMatchTheModel, RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Every example starts at the same instant, so a replay while shrinking is the same.
        self.clock.move_to(START)
        self.user = UserFactory()
        self.lots: dict[UUID, ModelLot] = {}
        self.holds: dict[UUID, ModelHold] = {}
        self.usages: list[tuple[UUID, dict[UUID, int]]] = []
        self.invoices: list = []
        self.keys = 0

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    def _live(self) -> list[ModelLot]:
        live = (lot for lot in self.lots.values() if lot.remaining and not lot.expired(self.now))
        return sorted(live, key=ModelLot.order)

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self._live())

    @property
    def held(self) -> int:
        return sum(h.amount - h.captured for h in self.holds.values() if h.open(self.now))

    def _key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    def _add(self, lot: TokenLot) -> None:
        self.lots[lot.pk] = ModelLot(
            lot.pk, lot.category, lot.amount, lot.expires_at, lot.priority, lot.created_at
        )

    def _burn(self, amount: int) -> dict[UUID, int]:
        taken, left = {}, amount
        for lot in self._live():
            part = min(lot.remaining, left)
            if part:
                lot.remaining -= part
                taken[lot.id] = part
                left -= part
        return taken

    @rule(
        amount=st.integers(1, 40),
        seconds=st.none() | st.integers(1, 900),
        category=st.sampled_from(["trial", "promotional", "included"]),
    )
    def grant(self, amount, seconds, category):
        # A microsecond apart, so lots burn in one order (equal times fall back on random ids).
        self.clock.shift(timedelta(microseconds=1))
        self._add(
            services.lot_grant(
                user_id=self.user.pk,
                amount=amount,
                category=category,
                expires_at=self.now + timedelta(seconds=seconds) if seconds else None,
                reason="model",
                actor_id=None,
            )
        )

    @rule(tokens=st.integers(1, 40), days=st.none() | st.just(1))
    def buy(self, tokens, days):
        self.clock.shift(timedelta(microseconds=1))
        order = checkout(
            self.user, bundles=[TokenBundleFactory(token_amount=tokens, expires_after_days=days)]
        )
        pay(order.invoice, reference=f"pay-{order.invoice.pk}")
        lot = TokenLot.objects.get(source_id=str(order.purchases[0].pk))
        self._add(lot)
        self.invoices.append((order.invoice.pk, lot.pk))

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def refund_invoice(self, data):
        invoice_id, lot_id = self.invoices.pop(data.draw(st.integers(0, len(self.invoices) - 1)))
        billing_services.invoice_refund(invoice_id=invoice_id)
        if not self.lots[lot_id].expired(self.now):
            self.lots[lot_id].remaining, self.lots[lot_id].voided = 0, True

    @rule(amount=st.integers(1, 40))
    def use(self, amount):
        work = Work(amount=amount, usage_key=self._key())
        if amount > self.balance - self.held:
            with pytest.raises(services.InsufficientTokens):
                services.usage_record(user_id=self.user.pk, work=work)
            return
        used = services.usage_record(user_id=self.user.pk, work=work)
        self.usages.append((used.usage.pk, self._burn(amount)))

    @rule(amount=st.integers(1, 40), ttl=st.integers(1, 600))
    def hold(self, amount, ttl):
        if amount > self.balance - self.held:
            with pytest.raises(services.InsufficientTokens):
                services.hold_create(user_id=self.user.pk, amount=amount, ttl_seconds=ttl)
            return
        made = services.hold_create(user_id=self.user.pk, amount=amount, ttl_seconds=ttl).hold
        self.holds[made.pk] = ModelHold(amount, made.expires_at)

    def _refusal(self, hold: ModelHold, amount: int = 0):
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
        hold, balance = self.holds[hold_id], self.balance
        refusal = self._refusal(hold, amount)
        if refusal is None and balance <= 0:
            refusal = services.InsufficientTokens
        arguments = {"user_id": self.user.pk, "hold_id": hold_id, "amount": amount}
        if refusal:
            with pytest.raises(refusal):
                services.hold_capture(**arguments, final=final, idempotency_key=self._key())
            return
        others = self.held - (hold.amount - hold.captured)
        # In full while the other holds leave it that much; short, what the balance has.
        charged = amount if balance - others >= amount else min(amount, balance)
        done = services.hold_capture(**arguments, final=final, idempotency_key=self._key())
        assert done.used.usage.charged == charged
        self.usages.append((done.used.usage.pk, self._burn(charged)))
        hold.captured += amount
        if final or hold.captured == hold.amount:
            hold.status = "captured"

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release(self, data):
        hold_id = data.draw(st.sampled_from(list(self.holds)))
        refusal = self._refusal(self.holds[hold_id])
        if refusal:
            with pytest.raises(refusal):
                services.hold_release(user_id=self.user.pk, hold_id=hold_id)
            return
        services.hold_release(user_id=self.user.pk, hold_id=hold_id)
        self.holds[hold_id].status = "released"

    @precondition(lambda self: self.usages)
    @rule(data=st.data())
    def refund_usage(self, data):
        usage_id, taken = self.usages.pop(data.draw(st.integers(0, len(self.usages) - 1)))
        refund = {"user_id": self.user.pk, "usage_id": usage_id, "actor_id": None}
        services.usage_record_refund(**refund)
        with pytest.raises(services.UsageAlreadyRefunded):
            services.usage_record_refund(**refund)
        for lot_id, part in taken.items():
            if not self.lots[lot_id].closed(self.now):
                self.lots[lot_id].remaining += part

    @precondition(lambda self: self.lots)
    @rule(data=st.data())
    def void(self, data):
        lot = data.draw(st.sampled_from(list(self.lots.values())))
        if lot.expired(self.now) or not lot.remaining:
            with pytest.raises(InvalidState):
                services.lot_void(lot_id=lot.id, reason="model", actor_id=None)
            return
        services.lot_void(lot_id=lot.id, reason="model", actor_id=None)
        lot.remaining, lot.voided = 0, True

    @rule(seconds=st.sampled_from([1, 30, 200, 400, 899, 86_400]))
    def time_passes(self, seconds):
        # Whole seconds from a whole second: often exactly at a lot's or a hold's expires_at.
        self.clock.shift(timedelta(seconds=seconds))

    @rule()
    def sweep_lots(self):
        services.lots_expire()
        for lot in self.lots.values():
            if lot.expired(self.now):
                lot.remaining = 0

    @rule()
    def sweep_holds(self):
        services.holds_expire()
        for hold in self.holds.values():
            if hold.status == "active" and not hold.open(self.now):
                hold.status = "expired"

    @invariant()
    def the_audit_finds_nothing(self):
        assert list(selectors.ledger_check()) == []


def test_holds_over_lots_follow_the_model():
    run_model(HoldsOverLots, start=START, steps=25)
