"""WholeFlow's rules for Stripe Checkout, and the events Stripe sends, in any order, any
number of times."""

from __future__ import annotations

from django.test import Client
from hypothesis import strategies as st
from hypothesis.stateful import (
    multiple,
    precondition,
    rule,
)

from billing.tests.flow_state_machine.model import Order, orders, stripe_events


class StripeRules:
    """WholeFlow's rules for Stripe Checkout, and the events Stripe sends, in any order, any
    number of times."""

    @rule(target=stripe_events, order=orders, pays=st.booleans())
    def stripe_checkout(self, order, pays):
        """The customer goes to Stripe Checkout (once per invoice) and pays there, or leaves
        the session open; Stripe then sends `checkout.session.completed`, sooner or later."""
        if not order.session:
            response = self.api().post(
                f"/api/v1/user/invoices/{order.id}/pay", {"provider": "stripe"}, format="json"
            )
            if order.status != "pending":
                assert response.status_code == 409
                return multiple()
            assert response.status_code == 200, response.content
            order.session, order.session_created_at = response.json()["session_id"], self.now()
        if not pays or order.paid_at_stripe or order.session_ended:
            return multiple()
        order.paid_at_stripe = True
        return self._sent_by_stripe(order, self.stripe.complete(order.session))

    @precondition(lambda self: any(o.paid_at_stripe for o in self.order_list))
    @rule(target=stripe_events, data=st.data())
    def stripe_refunds(self, data):
        """The payment is refunded at Stripe (from its dashboard, or by a staff refund)."""
        order = data.draw(st.sampled_from([o for o in self.order_list if o.paid_at_stripe]))
        if order.refunded_at_stripe:
            return multiple()
        order.refunded_at_stripe = True
        return self._sent_by_stripe(order, self.stripe.refunded(order.session))

    def _sent_by_stripe(self, order: Order, event: dict) -> dict:
        self.event_orders[event["id"]] = order
        return event

    @rule(event=stripe_events)
    def stripe_delivers(self, event):
        body, header = self.stripe.signed(event)

        response = Client().post(
            "/api/v1/webhooks/stripe",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )

        assert response.status_code == 200
        expected = self._stripe_outcome(event, self.event_orders[event["id"]])
        assert response.json()["outcome"] == expected

    def _stripe_outcome(self, event: dict, order: Order) -> str:
        settled = self.stripe_outcomes.get(event["id"])
        if settled in ("processed", "already_processed"):
            return "already_processed"
        if settled == "needs_review":
            return settled
        if event["type"] == "checkout.session.completed":
            if order.status == "pending":
                self.stripe_capture(order)
                outcome = "processed"
            elif (
                order.paid_by == "stripe" or self.found_by_reconcile(order) in self.payment_reviews
            ):
                # Paid here by it, or its payment flagged already by reconcile_purchases (its
                # webhook late): the same payment, not a second one to review.
                outcome = "already_processed"
            else:
                outcome = "needs_review"
        elif order.paid_by == "stripe":
            outcome = "processed" if order.status == "paid" else "already_processed"
            if order.status == "paid":
                self.refund(order)
        else:
            outcome = "held"
            if event["id"] not in order.held_refunds:
                order.held_refunds.append(event["id"])
        self.stripe_outcomes[event["id"]] = outcome
        return outcome
