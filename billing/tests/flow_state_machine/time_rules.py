"""WholeFlow's rules for time passing, the expiry sweep and reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

from django.core.management import CommandError, call_command
from hypothesis import strategies as st
from hypothesis.stateful import (
    rule,
)


class TimeRules:
    """WholeFlow's rules for time passing, the expiry sweep and reconciliation."""

    @rule(hours=st.sampled_from([1, 2, 12, 25, 80]))
    def time_passes(self, hours):
        self.traveller.shift(timedelta(hours=hours))

    @rule(job=st.sampled_from(["expire_lots", "reconcile"]))
    def operator_job(self, job):
        """What the worker runs on its schedule."""
        getattr(self, job)()

    def expire_lots(self) -> None:
        call_command("expire_lots", stdout=StringIO())

        for lot in self.lots:
            if lot.expired(self.now()):
                lot.remaining = 0

    def reconcile(self) -> None:
        out = StringIO()
        try:
            call_command("reconcile_purchases", "--json", stdout=out)
            code = 0
        except CommandError as error:
            code = error.returncode
        report = json.loads(out.getvalue())

        now = self.now()
        for order in self.order_list:
            stale = order.session and order.session_created_at < now - timedelta(hours=1)
            if order.status != "pending" or not stale:
                continue
            if order.paid_at_stripe:
                self.stripe_capture(order)
            elif order.created_at < now - timedelta(hours=72):
                order.status = "cancelled"
                order.session_ended = True
        for order in self.order_list:
            self._session_of_an_order_paid_elsewhere(order, now)
        for event in self.stripe.events:
            # A refund Stripe sent between 7 days and 10 minutes ago whose webhook was not
            # delivered (yet) is handled as its delivery would have been.
            sent = datetime.fromtimestamp(event["created"], tz=UTC)
            lost = event["type"] == "charge.refunded" and event["id"] not in self.stripe_outcomes
            if lost and now - timedelta(days=7) <= sent <= now - timedelta(minutes=10):
                self._stripe_outcome(event, self.event_orders[event["id"]])
        for order in self.order_list:
            # Refunded whole at Stripe, its webhook not delivered (yet): Stripe is asked about
            # invoices paid through it in the last 24 h.
            verified = order.paid_by == "stripe" and order.paid_at >= now - timedelta(hours=24)
            if verified and order.status == "paid" and order.refunded_at_stripe:
                self.refund(order)
        assert (code, report["unknown_to_provider"], report["stripe_errors"]) == (0, [], [])
        reviews = sum(outcome == "needs_review" for outcome in self.stripe_outcomes.values())
        assert report["payments_needing_review"] == reviews + len(self.payment_reviews)

    def _session_of_an_order_paid_elsewhere(self, order, now: datetime) -> None:
        """The Stripe session of an invoice the payment webhook paid (its expiry after that
        capture, an on-commit call, does not run in these tests) is asked about up to 14 days
        past its own end: expired if it took nothing, else its payment is flagged for review,
        unless its webhook flagged it already."""
        if not order.session or order.paid_by in ("", "stripe"):
            return
        if order.session_ended or order.session_asked:
            return
        ends = datetime.fromtimestamp(self.stripe.sessions[order.session]["expires_at"], tz=UTC)
        if ends <= now - timedelta(days=14):
            return
        order.session_asked = True
        if not order.paid_at_stripe:
            order.session_ended = True
            return
        flagged = any(
            event["type"] == "checkout.session.completed"
            and self.event_orders.get(event["id"]) is order
            and self.stripe_outcomes.get(event["id"]) == "needs_review"
            for event in self.stripe.events
        )
        if not flagged:
            self.payment_reviews.add(self.found_by_reconcile(order))

    @staticmethod
    def found_by_reconcile(order) -> str:
        """The review of the payment on `order`'s session that reconcile_purchases flagged; a
        webhook of it that comes later is that payment's, not a second review."""
        return f"{order.session} found by reconcile_purchases"
