"""A usage refund that waits for the account's lock while another writer holds it, across
the `expires_at` of the lot the usage took from (PostgreSQL): the lot expired at that
instant, so the tokens given back to it expire again at once (a visible `expiration`
entry), as the contract says, not at a later sweep."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from tokens import selectors, services
from tokens.ledger import Work
from tokens.models import TokenTransaction
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db(transaction=True)]

START = datetime(2026, 8, 1, tzinfo=UTC)
EXPIRES = START + timedelta(seconds=60)
LOCK_ACCOUNT = "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE"


def test_a_usage_refund_granted_the_lock_after_the_lot_expired_expires_the_tokens_at_once():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        lot = grant(user, 50, expires_at=EXPIRES)
        fund(user, 10)
        usage = services.usage_record(user_id=user.pk, work=Work(amount=20)).usage
        answers = {}

        def refund() -> None:
            answers["refund"] = services.usage_record_refund(
                user_id=user.pk, usage_id=usage.pk, actor_id=None
            )

        clock.move_to(EXPIRES - timedelta(seconds=1))
        with row_locked(LOCK_ACCOUNT, [user.pk]):
            refunder = threading.Thread(target=refund)
            refunder.start()
            wait_until(lambda: "refund" in answers or sessions_waiting_on_a_lock() > 0)
            clock.move_to(EXPIRES + timedelta(seconds=1))
        refunder.join()

        # What was given back left again at once; the 30 the usage left in the lot are the
        # sweep's to book, as for any expired lot.
        expired = TokenTransaction.objects.filter(transaction_type="expiration")
        assert list(expired.values_list("amount", "reference_id")) == [(-20, str(lot.pk))]
        lot.refresh_from_db()
        assert (lot.remaining, lot.expired_at) == (30, EXPIRES + timedelta(seconds=1))
        assert selectors.token_balance(user_id=user.pk).balance == 10
        assert list(selectors.ledger_check()) == []
