"""A capture or release that reaches a hold only after its `expires_at`, having waited for the
account's lock (another writer held it across the instant), on PostgreSQL: the hold expired
at that instant, so it is 409 `hold_expired` and changes nothing. The user saw the hold's
tokens available again from the instant it expired; they stay so."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from conftest import client_for
from tokens import selectors, services
from tokens.models import Hold
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db(transaction=True)]

START = datetime(2026, 8, 1, tzinfo=UTC)
LOCK_ACCOUNT = "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE"


@pytest.mark.parametrize(
    ("step", "body"), [("capture", {"amount": 60}), ("release", {})], ids=["capture", "release"]
)
def test_a_step_that_reaches_the_hold_after_its_expiry_is_409_and_changes_nothing(step, body):
    user = UserFactory()
    fund(user, 100)
    client = client_for(user)
    answers = {}
    with time_machine.travel(START, tick=False) as clock:
        made = services.hold_create(user_id=user.pk, amount=60, ttl_seconds=60).hold
        url = f"/api/v1/user/holds/{made.pk}/{step}"
        clock.move_to(made.expires_at - timedelta(seconds=1))

        def send() -> None:
            answers["step"] = client.post(url, body, HTTP_IDEMPOTENCY_KEY="late")

        with row_locked(LOCK_ACCOUNT, [user.pk]):
            sender = threading.Thread(target=send)
            sender.start()
            wait_until(lambda: "step" in answers or sessions_waiting_on_a_lock() > 0)
            clock.move_to(made.expires_at + timedelta(seconds=1))
            available_while_waiting = selectors.token_balance(user_id=user.pk).available
        sender.join()

        response = answers["step"]
        assert (response.status_code, response.json().get("code")) == (409, "hold_expired")
        shown = selectors.token_balance(user_id=user.pk)
        assert (available_while_waiting, shown.balance, shown.available) == (100, 100, 100)
        assert services.holds_expire() == 1
    assert Hold.objects.get(pk=made.pk).status == "expired"
    assert list(selectors.ledger_check()) == []
