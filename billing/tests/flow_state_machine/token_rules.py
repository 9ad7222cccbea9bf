"""WholeFlow's rules for tokens: consumes and their replays, usage refunds, staff grants
and staff invoice refunds."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from hypothesis import strategies as st
from hypothesis.stateful import (
    precondition,
    rule,
)

from billing.tests.flow_state_machine.model import Consume, Lot, Usage, orders, usages
from tokens.models import TokenLot


class TokenRules:
    """WholeFlow's rules for tokens: consumes and their replays, usage refunds, staff grants
    and staff invoice refunds."""

    @rule(target=usages, amount=st.integers(1, 40))
    def consume(self, amount):
        key = f"job-{len(self.consumes)}"
        consumed = Consume(key, amount, 0, self.now())
        self.consumes.append(consumed)
        return self._consume(consumed)

    @precondition(lambda self: self.consumes)
    @rule(target=usages, data=st.data())
    def consume_again(self, data):
        """A client's retry with the same key and body: the first answer while it is kept
        (24 h, that instant included: only an older record counts as gone); after that, a
        done debit is found by the ledger's own key, while a refusal is forgotten and the
        retry runs anew."""
        consumed = data.draw(st.sampled_from(self.consumes))
        kept = self.now() - consumed.at <= timedelta(hours=24)
        if consumed.status == 201 or kept:
            response = self.api().post(
                "/api/v1/user/tokens/consume",
                {"amount": consumed.amount},
                format="json",
                HTTP_IDEMPOTENCY_KEY=consumed.key,
            )
            assert response.status_code == consumed.status
            if consumed.status == 201:
                assert response.json()["transaction"]["id"] == consumed.entry_id
            return consumed.usage
        consumed.at = self.now()
        return self._consume(consumed)

    def _consume(self, consumed: Consume):
        available = self.shown()
        response = self.api().post(
            "/api/v1/user/tokens/consume",
            {"amount": consumed.amount},
            format="json",
            HTTP_IDEMPOTENCY_KEY=consumed.key,
        )
        consumed.status = response.status_code
        if consumed.amount > available:
            assert (response.status_code, response.json()["code"]) == (402, "insufficient_tokens")
            consumed.usage = Usage("", [])
            return consumed.usage
        assert response.status_code == 201, response.content
        taken, left = [], consumed.amount
        live = [lot for lot in self.lots if lot.remaining and not lot.expired(self.now())]
        for lot in sorted(live, key=Lot.burn_key):
            take = min(left, lot.remaining)
            if take:
                lot.remaining -= take
                taken.append((lot, take))
                left -= take
        # The balance answered leaves out tokens expired but not yet swept.
        assert response.json()["balance"] == self.shown()
        consumed.entry_id = response.json()["transaction"]["id"]
        consumed.usage = Usage(consumed.entry_id, taken)
        return consumed.usage

    @rule(usage=usages)
    def refund_usage(self, usage):
        if not usage.id:
            return
        response = self.api(self.staff).post(f"/api/v1/admin/token-transactions/{usage.id}/refund")

        if usage.refunded:
            assert (response.status_code, response.json()["code"]) == (409, "already_refunded")
            return
        assert response.status_code == 201, response.content
        usage.refunded = True
        for lot, taken in usage.taken:
            if not lot.expired(self.now()) and not lot.closed:
                lot.remaining += taken

    @rule(
        amount=st.integers(1, 60),
        days=st.sampled_from([None, 1, 3]),
        priority=st.sampled_from([10, 50, 90]),
    )
    def staff_grant(self, amount, days, priority):
        expires_at = self.now() + timedelta(days=days) if days else None
        response = self.api(self.staff).post(
            f"/api/v1/admin/users/{self.user.pk}/tokens/grants",
            {
                "amount": amount,
                "category": "promotional",
                "priority": priority,
                "reason": "model",
                **({"expires_at": expires_at.isoformat()} if expires_at else {}),
            },
            format="json",
        )

        assert response.status_code == 201, response.content
        lot_id = UUID(response.json()["id"])
        self.lots.append(Lot(lot_id, "promotional", priority, expires_at, self.now(), amount))

    @rule(order=orders)
    def staff_refunds_the_invoice(self, order):
        response = self.api(self.staff).post(f"/api/v1/admin/invoices/{order.id}/refund")

        if order.status == "paid":
            assert response.status_code == 200, response.content
            reversed_tokens = self.refund(order)
            answered = {
                TokenLot.objects.get(source_id=purchase["id"]).pk: purchase["tokens_reversed"]
                for purchase in response.json()["token_purchases"]
            }
            assert answered == {
                lot.id: taken for lot, taken in zip(order.lots, reversed_tokens, strict=True)
            }
        elif order.status == "refunded":
            assert (response.status_code, response.json()["code"]) == (409, "already_refunded")
        else:
            assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
