"""An invoice refund that waits for the account's lock while another writer holds it, across
the bought lot's `expires_at` (PostgreSQL): the tokens had expired at that instant (every
balance read meanwhile showed them gone), so the refund records them as not recovered and
leaves the lot to the sweep, as a refund made after the expiry does."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from billing import services as billing
from billing.models import TokenBundlePurchase
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from tokens import selectors, services
from tokens.models import TokenLot, TokenTransaction

pytestmark = [pytest.mark.django_db(transaction=True)]

START = datetime(2026, 8, 1, tzinfo=UTC)
LOCK_ACCOUNT = "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE"


def test_a_refund_granted_the_lock_after_the_tokens_expired_takes_nothing_back():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        invoice = checkout(user, bundles=[TokenBundleFactory(expires_after_days=1)]).invoice
        capture(invoice)
        lot = TokenLot.objects.get(account__user=user)
        answers = {}

        def refund() -> None:
            answers["refund"] = billing.invoice_refund(invoice_id=invoice.pk)

        clock.move_to(lot.expires_at - timedelta(seconds=1))
        with row_locked(LOCK_ACCOUNT, [user.pk]):
            refunder = threading.Thread(target=refund)
            refunder.start()
            wait_until(lambda: "refund" in answers or sessions_waiting_on_a_lock() > 0)
            clock.move_to(lot.expires_at + timedelta(seconds=1))
        refunder.join()

        purchase = TokenBundlePurchase.objects.get(invoice=invoice)
        assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (0, 1000)
        assert not TokenTransaction.objects.filter(transaction_type="reversal").exists()
        services.lots_expire()
        lot.refresh_from_db()
        assert (lot.remaining, lot.expired_at) == (0, lot.expires_at + timedelta(seconds=1))
        assert selectors.token_balance(user_id=user.pk).balance == 0
        assert list(selectors.ledger_check()) == []
