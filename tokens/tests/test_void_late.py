"""A staff void that waits for the account's lock while another writer holds it, across the
lot's `expires_at` (PostgreSQL): the lot expired at that instant, so the void is refused, as
the contract says for an expired lot, and the lot is left for the sweep to book as expired."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from common.errors import InvalidState
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from tokens import selectors, services
from tokens.models import TokenTransaction
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db(transaction=True)]

START = datetime(2026, 8, 1, tzinfo=UTC)
EXPIRES = START + timedelta(seconds=60)
LOCK_ACCOUNT = "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE"


def test_a_void_granted_the_lock_after_the_lot_expired_is_refused():
    user = UserFactory()
    staff = UserFactory(is_staff=True)
    with time_machine.travel(START, tick=False) as clock:
        lot = grant(user, 50, expires_at=EXPIRES)
        fund(user, 10)
        entries = TokenTransaction.objects.count()
        answers = {}

        def void() -> None:
            try:
                answers["void"] = services.lot_void(
                    lot_id=lot.pk, reason="fraud", actor_id=staff.pk
                )
            except InvalidState as refused:
                answers["void"] = refused

        clock.move_to(EXPIRES - timedelta(seconds=1))
        with row_locked(LOCK_ACCOUNT, [user.pk]):
            voider = threading.Thread(target=void)
            voider.start()
            wait_until(lambda: "void" in answers or sessions_waiting_on_a_lock() > 0)
            clock.move_to(EXPIRES + timedelta(seconds=1))
        voider.join()

        assert isinstance(answers["void"], InvalidState), answers["void"]
        assert TokenTransaction.objects.count() == entries
        lot.refresh_from_db()
        assert (lot.remaining, lot.voided_at) == (50, None)
        services.lots_expire()
        assert TokenTransaction.objects.filter(transaction_type="expiration").count() == 1
        assert selectors.token_balance(user_id=user.pk).balance == 10
        assert list(selectors.ledger_check()) == []
