"""Any sequence of credits, debits, usage refunds and adjustments agrees with a simple model."""

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from tokens import selectors, services
from tokens.models import TokenAccount, TokenTransaction

pytestmark = pytest.mark.sqlite


@dataclass
class Model:
    """What the ledger should say, kept by hand."""

    balance: int = 0
    purchased: int = 0
    spent: int = 0
    usages: list[tuple[object, int]] = field(default_factory=list)
    refunded: set = field(default_factory=set)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("credit"), st.integers(1, 500)),
        st.tuples(st.just("debit"), st.integers(1, 500)),
        st.tuples(st.just("refund"), st.integers(0, 20)),
        st.tuples(st.just("adjust"), st.integers(-500, 500).filter(bool)),
    ),
    max_size=25,
)


def apply(user, staff, model: Model, step: int, operation: str, value: int) -> None:
    if operation == "credit":
        services.tokens_credit(
            user_id=user.pk,
            amount=value,
            transaction_type="purchase",
            reference_type="test",
            reference_id=f"{user.pk}-{step}",
        )
        model.balance += value
        model.purchased += value
    elif operation == "debit":
        try:
            entry = services.tokens_debit(user_id=user.pk, amount=value)
        except services.InsufficientTokens:
            assert value > model.balance
            return
        model.balance -= value
        model.spent += value
        model.usages.append((entry.pk, value))
    elif operation == "refund":
        if not model.usages:
            return
        usage_id, amount = model.usages[value % len(model.usages)]
        try:
            services.usage_refund(transaction_id=usage_id, actor_id=staff.pk)
        except services.UsageAlreadyRefunded:
            assert usage_id in model.refunded
            return
        model.refunded.add(usage_id)
        model.balance += amount
        model.spent -= amount
    else:
        try:
            services.tokens_adjust(user_id=user.pk, amount=value, reason="test", actor_id=staff.pk)
        except services.AdjustmentBelowZero:
            assert model.balance + value < 0
            return
        model.balance += value


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=operations)
def test_any_sequence_matches_the_model_and_keeps_the_invariant(operations, staff_user):
    user = UserFactory()
    model = Model()

    for step, (operation, value) in enumerate(operations):
        apply(user, staff_user, model, step, operation, value)

        account = TokenAccount.objects.filter(user=user).order_by("pk").first()
        observed = (
            (account.balance, account.total_purchased, account.total_spent)
            if account
            else (0, 0, 0)
        )
        assert observed == (model.balance, model.purchased, model.spent)
        assert not TokenTransaction.objects.filter(balance_after__lt=0).exists()
        assert list(selectors.ledger_check()) == []
