"""Alerts under real concurrency on PostgreSQL."""

import pytest

from accounts.tests.factories import UserFactory
from common.tests.concurrency import run_together
from events.models import Event
from tokens import services
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


def test_a_threshold_crossed_by_50_concurrent_debits_fires_exactly_once(settings):
    settings.LOW_BALANCE_THRESHOLD = 100
    user = UserFactory()
    fund(user, 150)

    outcomes = run_together(
        [lambda: services.tokens_debit(user_id=user.pk, amount=2)] * 50, workers=10
    )

    assert not [o for o in outcomes if isinstance(o, Exception)]
    alerts = Event.objects.filter(type="tokens.low_balance", data__user_id=str(user.pk))
    assert alerts.count() == 1
    assert alerts.get().data["balance"] == 98
