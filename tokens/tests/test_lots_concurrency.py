"""Lots under real concurrency: threads with their own connections, started together, while
lots expire under them."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from common.tests.concurrency import run_together
from tokens import selectors, services
from tokens.ledger import Entry, ledger_debit
from tokens.models import TokenAllocation, TokenLot, TokenTransaction
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]

START = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.mark.sqlite
def test_200_debits_over_20_lots_while_they_expire_stay_within_every_lot():
    """Lots expire during the run (calls among the debits move the clock on); the sweep runs
    beside the debits. A debit spends a lot or sees it expired, never both."""
    user = UserFactory()
    shuffle = random.Random(11)

    def debit(amount: int):
        return lambda: services.tokens_debit(user_id=user.pk, amount=amount)

    with time_machine.travel(START, tick=False) as clock:
        for _ in range(20):
            expiry = shuffle.choice([None, 0.5, 1.0, 1.5, 2.0, 60.0])
            grant(
                user,
                30,
                priority=shuffle.choice([10, 50, 90]),
                expires_at=START + timedelta(seconds=expiry) if expiry else None,
                category=shuffle.choice(["trial", "promotional", "included"]),
            )
        calls = [debit(shuffle.randint(1, 5)) for _ in range(200)]
        for position in range(10, 210, 20):
            calls.insert(position, services.lots_expire)
            calls.insert(position, lambda: clock.shift(timedelta(milliseconds=300)))
        outcomes = run_together(calls, workers=8)
        ended = datetime.now(UTC)

    errors = [
        outcome
        for outcome in outcomes
        if isinstance(outcome, Exception) and not isinstance(outcome, services.InsufficientTokens)
    ]
    assert errors == []
    debited = -sum(o.amount for o in outcomes if isinstance(o, TokenTransaction))
    assert debited > 0
    usage = TokenTransaction.objects.filter(account__user=user, transaction_type="usage")
    assert debited == -sum(usage.values_list("amount", flat=True))
    assert not TokenLot.objects.filter(remaining__lt=0).exists()
    for lot in TokenLot.objects.filter(account__user=user):
        taken = TokenAllocation.objects.filter(lot=lot, amount__lt=0).exclude(entry=lot.credit_id)
        assert -sum(taken.values_list("amount", flat=True)) <= lot.amount
    assert list(selectors.ledger_check()) == []
    expiring = TokenLot.objects.filter(account__user=user, expires_at__lt=ended)
    assert expiring.exists(), "no lot expired during the run; the test proved nothing"


def test_a_debit_over_50_lots_costs_the_statements_of_a_debit_over_1():
    """One call of the ledger's debit function on PostgreSQL, however many lots it burns (and
    nothing else straight to PostgreSQL; behind PgBouncer the call is wrapped in a transaction
    that sets the timeouts)."""
    few, many = UserFactory(), UserFactory()
    grant(few, 500)
    for _ in range(50):
        grant(many, 10)

    with CaptureQueriesContext(connection) as over_one:
        ledger_debit(user_id=few.pk, entry=Entry(amount=-495, transaction_type="usage"))
    with CaptureQueriesContext(connection) as over_fifty:
        ledger_debit(user_id=many.pk, entry=Entry(amount=-495, transaction_type="usage"))
    with CaptureQueriesContext(connection) as service_over_fifty:
        services.tokens_debit(user_id=many.pk, amount=1)

    debits = [q for q in over_fifty.captured_queries if "tokens_debit(" in q["sql"]]
    assert len(over_fifty) == len(over_one)
    assert len(debits) == 1
    service_debits = [q for q in service_over_fifty.captured_queries if "tokens_debit(" in q["sql"]]
    assert len(service_debits) == 1
    assert TokenLot.objects.filter(account__user=many, remaining=0).count() == 49


@pytest.mark.sqlite
def test_usage_refunds_racing_the_sweep_after_their_lot_expired_give_nothing_back_to_spend():
    """20 usages of 1 took from a lot of 30 that has expired since; their refunds and two
    runs of the sweep race. Whatever the order, every token of the lot leaves by an
    `expiration` entry (the sweep's of what was left, a refund's of what it gave back, none
    twice), nothing comes back to spend, and the audit finds nothing."""
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        short_lived = grant(user, 30, expires_at=START + timedelta(hours=1))
        grant(user, 5)
        usages = [services.tokens_debit(user_id=user.pk, amount=1) for _ in range(20)]
        clock.move_to(START + timedelta(hours=2))
        calls = [
            lambda usage=usage: services.usage_refund(transaction_id=usage.pk, actor_id=None)
            for usage in usages
        ]
        calls[5:5] = [services.lots_expire]
        calls[15:15] = [services.lots_expire]

        outcomes = run_together(calls, workers=8)

        assert [o for o in outcomes if isinstance(o, Exception)] == []
        expired = TokenTransaction.objects.filter(
            transaction_type="expiration", reference_id=str(short_lived.pk)
        )
        assert -sum(expired.values_list("amount", flat=True)) == 30
        assert TokenLot.objects.get(pk=short_lived.pk).remaining == 0
        assert selectors.token_balance(user_id=user.pk).balance == 5
        with pytest.raises(services.InsufficientTokens):
            services.tokens_debit(user_id=user.pk, amount=6)
        assert list(selectors.ledger_check()) == []
