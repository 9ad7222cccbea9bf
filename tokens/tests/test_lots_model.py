"""Any sequence of credits, debits, usage refunds, invoice refunds, grants, voids, sweeps and
time passing leaves every lot where a model of lots says it is, and the audit clean."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from accounts.tests.factories import UserFactory
from billing import services as billing_services
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.errors import InvalidState
from tokens import selectors, services
from tokens.models import TokenAllocation, TokenLot
from tokens.tests.ledger_models import LotsMatchTheModel, ModelLot, run_model

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

START = datetime(2026, 3, 1, tzinfo=UTC)


class Lots(LotsMatchTheModel, RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Every example starts at the same instant, so a replay while shrinking is the same.
        self.clock.move_to(START)
        self.user = UserFactory()
        self.lots: dict[UUID, ModelLot] = {}
        self.usages: list = []
        self.invoices: list = []

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    def _add(self, lot: TokenLot) -> None:
        self.lots[lot.pk] = ModelLot(
            lot.pk, lot.category, lot.amount, lot.expires_at, lot.priority, lot.created_at
        )

    def _live(self) -> list[ModelLot]:
        return [lot for lot in self.lots.values() if lot.remaining and not lot.expired(self.now)]

    @rule(tokens=st.integers(1, 50), days=st.none() | st.integers(1, 3))
    def buy(self, tokens, days):
        bundle = TokenBundleFactory(token_amount=tokens, expires_after_days=days)
        order = checkout(self.user, bundles=[bundle])
        capture(order.invoice, reference=f"pay-{order.invoice.pk}")
        self._add(TokenLot.objects.get(source_id=str(order.purchases[0].pk)))
        self.invoices.append(order)

    @rule(
        amount=st.integers(1, 50),
        category=st.sampled_from(["trial", "promotional", "included"]),
        hours=st.none() | st.integers(1, 72),
        priority=st.sampled_from([0, 50, 100]),
    )
    def grant(self, amount, category, hours, priority):
        expires_at = self.now + timedelta(hours=hours) if hours else None
        self._add(
            services.lot_grant(
                user_id=self.user.pk,
                amount=amount,
                category=category,
                expires_at=expires_at,
                priority=priority,
                reason="model",
                actor_id=None,
            )
        )

    @rule(amount=st.integers(1, 60))
    def debit(self, amount):
        live = sorted(self._live(), key=ModelLot.order)
        if sum(lot.remaining for lot in live) < amount:
            with pytest.raises(services.InsufficientTokens):
                services.tokens_debit(user_id=self.user.pk, amount=amount)
            return
        entry = services.tokens_debit(user_id=self.user.pk, amount=amount)
        taken, left = {}, amount
        for lot in live:
            part = min(lot.remaining, left)
            if part:
                lot.remaining -= part
                taken[lot.id] = part
                left -= part
        self.usages.append((entry, taken))

    @precondition(lambda self: self.usages)
    @rule(data=st.data())
    def refund_usage(self, data):
        entry, taken = self.usages.pop(data.draw(st.integers(0, len(self.usages) - 1)))
        services.usage_refund(transaction_id=entry.pk, actor_id=None)
        for lot_id, part in taken.items():
            if not self.lots[lot_id].closed(self.now):
                self.lots[lot_id].remaining += part

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def refund_invoice(self, data):
        order = self.invoices.pop(data.draw(st.integers(0, len(self.invoices) - 1)))
        billing_services.invoice_refund(invoice_id=order.invoice.pk)
        lot = next(lot for lot in self.lots.values() if lot.id == self._lot_of(order))
        if not lot.expired(self.now):
            # Closed, spent or not: a usage refund gives nothing back to it.
            lot.remaining, lot.voided = 0, True

    def _lot_of(self, order) -> UUID:
        return TokenLot.objects.get(source_id=str(order.purchases[0].pk)).pk

    @precondition(lambda self: self.lots)
    @rule(data=st.data())
    def void(self, data):
        # In the order made: ids are random, and a replay while shrinking repeats choices.
        lot = data.draw(st.sampled_from(list(self.lots.values())))
        if lot.expired(self.now) or not lot.remaining:
            with pytest.raises(InvalidState):
                services.lot_void(lot_id=lot.id, reason="model", actor_id=None)
            return
        services.lot_void(lot_id=lot.id, reason="model", actor_id=None)
        lot.remaining, lot.voided = 0, True

    @rule(minutes=st.integers(1, 3 * 24 * 60))
    def time_passes(self, minutes):
        self.clock.shift(timedelta(minutes=minutes))

    @rule()
    def sweep(self):
        services.lots_expire()
        for lot in self.lots.values():
            if lot.expired(self.now):
                lot.remaining = 0

    @invariant()
    def the_balance_is_what_the_unexpired_lots_hold(self):
        expected = sum(lot.remaining for lot in self._live())
        assert selectors.token_balance(user_id=self.user.pk).balance == expected

    @invariant()
    def the_audit_finds_nothing(self):
        assert list(selectors.ledger_check()) == []
        assert not TokenAllocation.objects.filter(lot__remaining__lt=0).exists()


def test_lots_follow_the_model():
    run_model(Lots, start=START, steps=20)
