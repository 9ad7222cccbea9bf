"""WholeFlow's rules for checkout and the provider-neutral payment webhook."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import UUID

from django.test import Client
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    rule,
)

from billing.tests.flow_state_machine.model import Order, orders, stripe_events
from billing.tests.helpers import WEBHOOK, signature


class CheckoutRules:
    """WholeFlow's rules for checkout and the provider-neutral payment webhook."""

    @initialize(target=orders)
    def an_order_paid_through_the_payment_webhook(self):
        order = self.checkout(picks=[0, 1])
        self.payment_webhook(order, event="first")
        return order

    @initialize(target=stripe_events)
    def an_order_paid_at_stripe(self):
        return self.stripe_checkout(self.checkout(picks=[1]), pays=True)

    @rule(target=orders, picks=st.lists(st.sampled_from([0, 1]), min_size=1, max_size=3))
    def checkout(self, picks):
        chosen = [list(self.bundles)[pick] for pick in picks]
        response = self.api().post(
            "/api/v1/user/checkout",
            {"token_bundle_ids": [str(pk) for pk in chosen]},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        purchases = [
            (
                UUID(item["id"]),
                item["tokens"],
                self.bundles[UUID(item["bundle_id"])].expires_after_days,
            )
            for item in body["token_bundles"]
        ]
        total = Decimal(body["invoice"]["total_amount"])
        order = Order(UUID(body["invoice"]["id"]), total, purchases, self.now())
        self.order_list.append(order)
        return order

    @rule(order=orders, event=st.sampled_from(["first", "second", ""]))
    def payment_webhook(self, order, event):
        """The provider-neutral capture, as delivered: once, again, under another event id,
        without one, or for an invoice that was cancelled or paid otherwise meanwhile."""
        event_id = f"{order.id}-{event}" if event else ""
        body = json.dumps(
            {
                "event_id": event_id,
                "invoice_id": str(order.id),
                "payment_reference": f"pay-{order.id}",
                "amount": str(order.total),
                "currency": "USD",
            }
        ).encode()

        response = Client().post(
            WEBHOOK,
            data=body,
            content_type="application/json",
            HTTP_X_PAYMENT_SIGNATURE=signature(body),
        )

        if self.payment_events.get(event_id) == "done":
            expected = (200, "already_processed")
        elif order.status == "pending":
            expected = (200, "success")
            self.credit(order, "payment")
        elif order.paid_by == "payment":
            expected = (200, "already_processed")
        else:
            expected = (409, "invalid_state")
            self.payment_reviews.add(event_id or f"{order.id} without an event id")
        answer = response.json()
        assert (response.status_code, answer.get("status", answer.get("code"))) == expected
        if event_id:
            self.payment_events[event_id] = "done" if expected[0] == 200 else "rejected"

    @rule(order=orders)
    def cancel(self, order):
        response = self.api().post(f"/api/v1/user/invoices/{order.id}/cancel")

        if order.status == "pending" and order.paid_at_stripe:
            # Stripe took the money; its webhook captures the invoice.
            assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
        elif order.status == "pending":
            assert response.status_code == 200
            order.status = "cancelled"
            order.session_ended = bool(order.session)
        else:
            assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
