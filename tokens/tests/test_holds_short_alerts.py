"""Balance alerts around captures on a short account: `tokens.low_balance` once per crossing
(a short capture's balance falls by what it charged), `tokens.depleted` never from a capture
(docs/decisions.md, "Holds: a capture when the holds reserve more than there is")."""

from datetime import UTC, datetime

import pytest
import time_machine

from events.models import Event
from tokens import services
from tokens.ledger import Work
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def alerts(user) -> list[tuple]:
    """Sorted: the clock stands still, so nothing orders them."""
    found = Event.objects.filter(
        type__in=["tokens.low_balance", "tokens.depleted"], data__user_id=str(user.pk)
    )
    return sorted((e.type.removeprefix("tokens."), e.data["balance"]) for e in found)


def capture(user, hold, amount, key, final=True):
    return services.hold_capture(
        user_id=user.pk, hold_id=hold.pk, amount=amount, final=final, idempotency_key=key
    )


def test_short_captures_cross_the_threshold_once_and_never_deplete(user):
    with time_machine.travel(NOW, tick=False):
        services.alerts_set(user_id=user.pk, threshold=30)
        grant(user, 70, priority=10)
        voided = grant(user, 30, priority=20)
        first = services.hold_create(user_id=user.pk, amount=50, idempotency_key="h1").hold
        second = services.hold_create(user_id=user.pk, amount=50, idempotency_key="h2").hold
        services.lot_void(lot_id=voided.pk, reason="test", actor_id=None)
        made_short = alerts(user)

        steps = [
            capture(user, first, 30, "a", final=False).used.usage.charged,
            capture(user, first, 20, "b").used.usage.charged,
            capture(user, second, 40, "c", final=False).used.usage.charged,
        ]
        after_captures = alerts(user)
        with pytest.raises(services.InsufficientTokens):
            capture(user, second, 10, "d")
        fund(user, 100)
        services.usage_record(user_id=user.pk, work=Work(amount=80))

    assert made_short == [("depleted", 100)]
    assert steps == [30, 20, 20]
    assert after_captures == [("depleted", 100), ("low_balance", 20)]
    assert alerts(user) == [("depleted", 100), ("low_balance", 20), ("low_balance", 20)]
