"""A debit (consume, usage by a user or a service, a hold, a capture) that waits for the
account's lock while another writer holds it, across a lot's `expires_at`, on PostgreSQL: the
lot expired at that instant (every balance read meanwhile showed it gone), so the debit, done
once the lock is granted, neither spends it nor counts it as available."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from conftest import client_for, service_client
from tokens import selectors, services
from tokens.models import Hold, TokenTransaction, UsageRecord
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db(transaction=True)]

START = datetime(2026, 8, 1, tzinfo=UTC)
EXPIRES = START + timedelta(seconds=60)
LOCK_ACCOUNT = "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE"


def _sent_across_the_expiry(clock, user, send) -> tuple:
    """`send()` asked a second before EXPIRES while another writer holds the account's lock,
    granted a second after it; what the balance showed meanwhile and the answer."""
    answers = {}
    clock.move_to(EXPIRES - timedelta(seconds=1))
    with row_locked(LOCK_ACCOUNT, [user.pk]):
        sender = threading.Thread(target=lambda: answers.setdefault("sent", send()))
        sender.start()
        wait_until(lambda: "sent" in answers or sessions_waiting_on_a_lock() > 0)
        clock.move_to(EXPIRES + timedelta(seconds=1))
        shown = selectors.token_balance(user_id=user.pk)
    sender.join()
    return (shown.balance, shown.available), answers["sent"]


def _service(user):
    from accounts.services import api_key_create

    client = service_client(api_key_create(name="seller backend", actor_id=None).secret)
    return client, f"/api/v1/users/{user.pk}"


ASKS = {
    "consume": lambda user: (client_for(user), "/api/v1/user/tokens/consume"),
    "usage": lambda user: (client_for(user), "/api/v1/user/usage"),
    "service usage": lambda user: (lambda c, base: (c, f"{base}/usage"))(*_service(user)),
    "hold": lambda user: (client_for(user), "/api/v1/user/holds"),
    "service hold": lambda user: (lambda c, base: (c, f"{base}/holds"))(*_service(user)),
}


@pytest.mark.parametrize("ask", list(ASKS))
def test_a_debit_granted_the_lock_after_its_only_lot_expired_is_402(ask):
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        grant(user, 50, expires_at=EXPIRES)
        client, url = ASKS[ask](user)
        entries = TokenTransaction.objects.count()

        def send():
            return client.post(url, {"amount": 50}, HTTP_IDEMPOTENCY_KEY="late")

        shown_meanwhile, response = _sent_across_the_expiry(clock, user, send)

        assert (response.status_code, response.json().get("code")) == (
            402,
            "insufficient_tokens",
        )
        assert shown_meanwhile == (0, 0)
        shown = selectors.token_balance(user_id=user.pk)
        assert (shown.balance, shown.available) == (0, 0)
        assert TokenTransaction.objects.count() == entries
        assert (UsageRecord.objects.count(), Hold.objects.count()) == (0, 0)
        assert list(selectors.ledger_check()) == []


@pytest.mark.parametrize("ask", ["consume", "usage", "service usage"])
def test_a_debit_granted_the_lock_after_a_lot_expired_takes_from_the_others(ask):
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        expiring = grant(user, 50, expires_at=EXPIRES)
        fund(user, 100)
        client, url = ASKS[ask](user)

        def send():
            return client.post(url, {"amount": 30}, HTTP_IDEMPOTENCY_KEY="late")

        shown_meanwhile, response = _sent_across_the_expiry(clock, user, send)

        assert response.status_code == 201
        assert shown_meanwhile == (100, 100)
        _took_30_from_the_lot_that_never_expires(user, expiring)


def test_a_capture_granted_the_lock_after_a_lot_expired_takes_from_the_others():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        expiring = grant(user, 50, expires_at=EXPIRES)
        fund(user, 100)
        hold = services.hold_create(user_id=user.pk, amount=30, ttl_seconds=600).hold
        client = client_for(user)

        def send():
            url = f"/api/v1/user/holds/{hold.pk}/capture"
            return client.post(url, {"amount": 30}, HTTP_IDEMPOTENCY_KEY="late")

        shown_meanwhile, response = _sent_across_the_expiry(clock, user, send)

        assert response.status_code == 200
        assert shown_meanwhile == (100, 70)
        _took_30_from_the_lot_that_never_expires(user, expiring)


def _took_30_from_the_lot_that_never_expires(user, expiring) -> None:
    """The usage took its 30 from the lot that never expires, the expired lot kept its 50
    (for the sweep to book), and the ledger agrees."""
    taken = TokenTransaction.objects.get(transaction_type="usage").allocations.get()
    expiring.refresh_from_db()
    assert (taken.lot.expires_at, taken.amount, expiring.remaining) == (None, -30, 50)
    shown = selectors.token_balance(user_id=user.pk)
    assert (shown.balance, shown.available) == (70, 70)
    assert list(selectors.ledger_check()) == []


def test_a_hold_granted_the_lock_later_lasts_its_ttl_from_then_to_the_whole_second():
    user = UserFactory()
    asked, granted = START + timedelta(seconds=0.9), START + timedelta(seconds=1)
    with time_machine.travel(asked, tick=False) as clock:
        fund(user, 100)
        client = client_for(user)
        answers = {}

        def send():
            body = {"amount": 10, "ttl_seconds": 60}
            return client.post("/api/v1/user/holds", body, HTTP_IDEMPOTENCY_KEY="late")

        with row_locked(LOCK_ACCOUNT, [user.pk]):
            sender = threading.Thread(target=lambda: answers.setdefault("sent", send()))
            sender.start()
            wait_until(lambda: "sent" in answers or sessions_waiting_on_a_lock() > 0)
            clock.move_to(granted)
        sender.join()

    assert answers["sent"].status_code == 201
    hold = Hold.objects.get()
    # Rounded once, from the time it was made: not up to a second more (rounded twice).
    assert (hold.created_at, hold.expires_at) == (granted, granted + timedelta(seconds=60))
