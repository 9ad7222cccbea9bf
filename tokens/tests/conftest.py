"""Fixtures several of tokens' test modules share."""

import pytest
import time_machine

from tokens import services
from tokens.tests.factories import fund
from tokens.tests.lot_helpers import NOW


@pytest.fixture
def history(user):
    """Six entries: funds, four usages, one refund."""
    fund(user, 100)
    usages = [
        services.tokens_debit(user_id=user.pk, amount=amount, description=f"job {amount}")
        for amount in (1, 2, 3, 4)
    ]
    services.usage_refund(transaction_id=usages[0].pk, actor_id=None)
    return usages


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
