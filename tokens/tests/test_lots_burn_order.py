"""Lots: one burn order everywhere, exact expiry, refunds that give back to the same lots."""

from datetime import timedelta

import pytest

from tokens import services
from tokens.models import TokenLot
from tokens.tests.factories import grant
from tokens.tests.lot_helpers import NOW, remaining, taken_by

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def fund_paid(user, amount: int) -> TokenLot:
    """A paid lot that never expires, as a purchase credits it."""
    entry = services.tokens_credit(
        user_id=user.pk,
        amount=amount,
        transaction_type="purchase",
        reference_type="test",
        reference_id=f"purchase-{amount}",
    )
    return TokenLot.objects.get(credit=entry)


def test_debits_burn_by_priority_then_expiry_then_category_then_age(user, clock):
    paid_late = grant(user, 10, category="included", expires_at=NOW + timedelta(days=9))
    never = grant(user, 10)
    soon = grant(user, 10, category="promotional", expires_at=NOW + timedelta(days=2))
    trial_same_time = grant(user, 10, category="trial", expires_at=NOW + timedelta(days=2))
    urgent = grant(user, 10, priority=10)

    entry = services.tokens_debit(user_id=user.pk, amount=35)

    assert remaining(urgent, trial_same_time, soon, paid_late, never) == [0, 0, 0, 5, 10]
    assert taken_by(entry) == {
        urgent.pk: -10,
        trial_same_time.pk: -10,
        soon.pk: -10,
        paid_late.pk: -5,
    }


def test_of_two_lots_that_never_expire_the_category_decides_before_the_age(user, clock):
    bought = fund_paid(user, 10)
    clock.shift(timedelta(hours=1))
    free = grant(user, 10)

    services.tokens_debit(user_id=user.pk, amount=4)

    assert remaining(free, bought) == [6, 10]


def test_of_two_lots_alike_the_older_burns_first(user, clock):
    older = grant(user, 5)
    clock.shift(timedelta(seconds=1))
    newer = grant(user, 5)

    services.tokens_debit(user_id=user.pk, amount=6)

    assert remaining(older, newer) == [0, 4]
