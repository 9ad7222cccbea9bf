"""One model for the whole flow: a hypothesis state machine drives checkout, capture by the
payment webhook and by Stripe (deliveries duplicated, late and out of order), Stripe Checkout
and its refunds, consumes and their replays, usage refunds, staff invoice refunds, staff
grants, cancels, time passing (lots expire at their instant), the expiry sweep and
`reconcile_purchases`, through the real endpoints and commands. After every step the database
must agree with a plain in-memory model (every lot's remaining, the balance shown and stored,
every invoice's status) and `ledger_check` must find nothing.

Each example runs in a savepoint that is rolled back at its end, with its own clock. It runs
on PostgreSQL and on SQLite, whose debits are the same rules written in Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    run_state_machine_as_test,
)

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from billing.tests.flow_state_machine.checkout_rules import CheckoutRules
from billing.tests.flow_state_machine.model import START, Consume, Lot, Order
from billing.tests.flow_state_machine.stripe_rules import StripeRules
from billing.tests.flow_state_machine.time_rules import TimeRules
from billing.tests.flow_state_machine.token_rules import TokenRules
from catalog.tests.factories import TokenBundleFactory
from conftest import client_for
from tokens.models import TokenAccount, TokenLot
from tokens.selectors import ledger_check, token_balance


class WholeFlow(CheckoutRules, StripeRules, TokenRules, TimeRules, RuleBasedStateMachine):
    stripe = None  # the test's FakeStripe

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        # Stripe lists the events it made; those of an earlier example are not this one's.
        self.stripe.events.clear()
        self.user = UserFactory()
        self.staff = UserFactory(is_staff=True)
        self.bundles = {
            bundle.pk: bundle
            for bundle in (
                TokenBundleFactory(token_amount=100, price=Decimal("1.00")),
                TokenBundleFactory(token_amount=40, price=Decimal("2.00"), expires_after_days=1),
            )
        }
        self.lots: list[Lot] = []
        self.order_list: list[Order] = []
        self.consumes: list[Consume] = []
        self.payment_events: dict[str, str] = {}
        # The capture webhook's payments a person must refund: one per event id, or per body.
        self.payment_reviews: set[str] = set()
        self.stripe_outcomes: dict[str, str] = {}
        self.event_orders: dict[str, Order] = {}

    def teardown(self) -> None:
        self.clock.stop()
        transaction.set_rollback(True)
        self.savepoint.__exit__(None, None, None)

    # The model's arithmetic.

    def now(self) -> datetime:
        return timezone.now()

    def shown(self) -> int:
        return sum(lot.remaining for lot in self.lots if not lot.expired(self.now()))

    def api(self, user=None):
        """A client with an access token minted now (time passes between steps)."""
        return client_for(user or self.user)

    def credit(self, order: Order, paid_by: str) -> None:
        now = self.now()
        order.status, order.paid_by, order.paid_at = "paid", paid_by, now
        for purchase_id, tokens, days in order.purchases:
            stored = TokenLot.objects.get(source_id=str(purchase_id))
            lot = Lot(
                stored.pk,
                "paid",
                50,
                now + timedelta(days=days) if days else None,
                now,
                tokens,
            )
            assert (stored.expires_at, stored.created_at) == (lot.expires_at, lot.created_at)
            order.lots.append(lot)
            self.lots.append(lot)

    def refund(self, order: Order) -> list[int]:
        """An invoice refund: what is left of each purchase's own lot, unless it expired; the
        lot is closed."""
        order.status = "refunded"
        taken = []
        for lot in order.lots:
            taken.append(0 if lot.expired(self.now()) else lot.remaining)
            lot.remaining -= taken[-1]
            lot.closed = lot.closed or not lot.expired(self.now())
        return taken

    def stripe_capture(self, order: Order) -> None:
        """A capture from Stripe, which then applies the refunds held for it."""
        self.credit(order, "stripe")
        for event_id in order.held_refunds:
            if order.status == "paid":
                self.refund(order)
            self.stripe_outcomes[event_id] = "processed"
        order.held_refunds.clear()

    @invariant()
    def the_database_agrees_with_the_model(self):
        stored = {lot.pk: lot.remaining for lot in TokenLot.objects.filter(account__user=self.user)}
        assert stored == {lot.id: lot.remaining for lot in self.lots}
        account = TokenAccount.objects.filter(user=self.user).first()
        assert (account.balance if account else 0) == sum(stored.values())
        assert token_balance(user_id=self.user.pk).balance == self.shown()
        invoices = dict(Invoice.objects.filter(user=self.user).values_list("pk", "status"))
        assert invoices == {order.id: order.status for order in self.order_list}
        assert list(ledger_check()) == []


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_whole_flow_agrees_with_the_model(fake_stripe):
    WholeFlow.stripe = fake_stripe
    run_state_machine_as_test(
        WholeFlow,
        settings=settings(
            max_examples=25,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_model_expects_one_review_for_a_payment_reconcile_flagged_before_its_webhook(
    fake_stripe,
):
    """The run hypothesis seldom draws: a Stripe payment on the session of an invoice the
    payment webhook paid, flagged by reconcile_purchases, then its webhook late. One payment,
    one review, in the model as in the service."""
    WholeFlow.stripe = fake_stripe
    flow = WholeFlow()
    try:
        order = flow.checkout([0])
        completed = flow.stripe_checkout(order, True)
        flow.payment_webhook(order, "first")
        flow.operator_job("reconcile")
        flow.stripe_delivers(completed)
        flow.operator_job("reconcile")
        flow.the_database_agrees_with_the_model()
    finally:
        flow.teardown()
