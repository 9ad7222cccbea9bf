"""`available` in the API is the balance less what active holds reserve, also when that is
below 0 (lots expired, were voided or taken back under the holds): decided in docs/api.md,
"Balance". Every answer that carries it says the same number; only the pages clamp it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from common.tests.helpers import database_state
from tokens.services import hold_create
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

START = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def tokens_state() -> dict:
    return {name: rows for name, rows in database_state().items() if name.startswith("tokens.")}


def test_available_below_zero_is_answered_as_is_by_balance_usage_and_hold(user_client, user):
    with time_machine.travel(START, tick=False) as clock:
        grant(user, 10, expires_at=START + timedelta(hours=1))
        hold_create(user_id=user.pk, amount=8, ttl_seconds=7200, idempotency_key="user:job")
        clock.move_to(START + timedelta(hours=1))  # the lot's expires_at: gone from here on
        before = tokens_state()

        balance = user_client.get("/api/v1/user/tokens/balance").json()
        usage = user_client.post(
            "/api/v1/user/usage", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="u1"
        )
        hold = user_client.post(
            "/api/v1/user/holds", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="h1"
        )

    assert (balance["balance"], balance["held"], balance["available"]) == (0, 8, -8)
    assert usage.status_code == hold.status_code == 402
    for short in (usage.json(), hold.json()):
        assert (short["balance"], short["available"], short["needed"]) == (0, -8, 1)
    assert tokens_state() == before
