"""Refunds racing spending and each other, with real threads on PostgreSQL (each with its own
connection), directly and through PgBouncer in transaction pooling."""

from decimal import Decimal

import pytest

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import TokenBundlePurchase
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.errors import InvalidState
from common.tests.concurrency import meeting, run_together
from conftest import client_for
from tokens import services as token_services
from tokens.models import TokenAccount, TokenAllocation, TokenLot, TokenTransaction
from tokens.selectors import ledger_check
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


def taken_from(lot: TokenLot, transaction_type: str) -> int:
    """What entries of this type took from the lot, as a positive number."""
    allocations = TokenAllocation.objects.filter(
        lot=lot, entry__transaction_type=transaction_type
    ).values_list("amount", flat=True)
    return -sum(allocations)


@pytest.mark.parametrize("refund_position", [0, 10, 20])
def test_an_invoice_refund_racing_20_consumes_takes_only_what_is_left_of_its_lot(
    refund_position,
):
    """A free lot of 300 burns first, then the purchase's lot of 1000; 20 consumes of 60
    (1200) race the refund, which takes back whatever the purchase's lot holds when it
    runs and never a token of the free lot."""
    user = UserFactory()
    free = grant(user, 300)
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=1000, price=Decimal("5"))])
    capture(order.invoice)
    bought = TokenLot.objects.get(account__user=user, category="paid")
    clients = [client_for(user) for _ in range(20)]
    calls = [
        lambda index=index: clients[index].post(
            "/api/v1/user/tokens/consume",
            {"amount": 60},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"job-{index}",
        )
        for index in range(20)
    ]
    calls.insert(refund_position, lambda: services.invoice_refund(invoice_id=order.invoice.pk))

    outcomes = run_together(calls, workers=11)

    [refund] = [o for o in outcomes if isinstance(o, services.RefundResult)]
    consumed = [o for o in outcomes if not isinstance(o, services.RefundResult)]
    assert {response.status_code for response in consumed} <= {201, 402}
    spent = 60 * sum(response.status_code == 201 for response in consumed)
    reversed_entry = TokenTransaction.objects.filter(
        account__user=user, transaction_type="reversal"
    )
    reversed_tokens = -sum(reversed_entry.values_list("amount", flat=True))
    assert reversed_tokens == refund.tokens_reversed == taken_from(bought, "reversal")
    assert taken_from(bought, "usage") + reversed_tokens == 1000
    assert refund.tokens_unrecovered == 1000 - reversed_tokens
    purchase = TokenBundlePurchase.objects.get(invoice=order.invoice)
    assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (
        refund.tokens_reversed,
        refund.tokens_unrecovered,
    )
    assert TokenLot.objects.get(pk=bought.pk).remaining == 0
    assert taken_from(free, "reversal") == 0
    assert TokenLot.objects.get(pk=free.pk).remaining == 300 - taken_from(free, "usage")
    balance = TokenAccount.objects.get(user=user).balance
    assert balance == 1300 - spent - reversed_tokens >= 0
    assert not TokenLot.objects.filter(remaining__lt=0).exists()
    assert not TokenTransaction.objects.filter(balance_after__lt=0).exists()
    assert list(ledger_check()) == []


@pytest.mark.parametrize("void_first", [True, False])
def test_an_invoice_refund_meeting_a_void_of_its_lot_reports_no_voided_token_as_spent(
    void_first,
):
    """Staff void the purchase's lot of 50 while the invoice is refunded: whichever commits
    first, no token of it was spent, so none is recorded as unrecovered. The one that waits
    reads what the other committed: the refund, what the void took; the void, a lot the
    refund closed (409)."""
    user = UserFactory()
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=50)])
    capture(order.invoice)
    lot = TokenLot.objects.get(account__user=user, category="paid")

    def void():
        return token_services.lot_void(lot_id=lot.pk, reason="fraud check", actor_id=None)

    def refund():
        return services.invoice_refund(invoice_id=order.invoice.pk)

    answers = meeting(void, refund) if void_first else meeting(refund, void)

    purchase = TokenBundlePurchase.objects.get(invoice=order.invoice)
    voided = answers["held" if void_first else "waiting"]
    if void_first:
        assert isinstance(voided, token_services.LotVoided), voided
        assert voided.amount == 50
        assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (0, 0)
    else:
        assert isinstance(voided, InvalidState), voided
        assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (50, 0)
    assert TokenAccount.objects.get(user=user).balance == 0
    assert list(ledger_check()) == []
