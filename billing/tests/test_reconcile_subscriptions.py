from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from billing import services
from billing.models import (
    AddOnSubscription,
    Invoice,
    PaymentEvent,
    Subscription,
)
from billing.tests.helpers import checkout, deliver, payment_body
from billing.tests.reconcile_helpers import reconcile
from catalog.tests.factories import AddOnFactory, PlanFactory
from events.models import Event

pytestmark = pytest.mark.django_db


def test_ended_subscriptions_expire(user):
    invoice = checkout(user, plan=PlanFactory()).invoice
    services.invoice_capture(invoice_id=invoice.pk, payment_reference="p", provider="payment")
    Subscription.objects.update(expires_at=timezone.now() - timedelta(days=1))

    report, _ = reconcile()

    assert report["subscriptions_expired"] == 1
    assert Subscription.objects.get().status == "expired"


def test_a_subscription_is_recorded_expired_at_its_end_instant(user):
    """A period ends exactly at `expires_at` (usage stops being covered, the subscription is
    no longer current): the sweep running at that instant records it and says so."""
    start = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        invoice = checkout(user, plan=PlanFactory(billing_period="monthly")).invoice
        services.invoice_capture(invoice_id=invoice.pk, payment_reference="p", provider="payment")
        clock.move_to(Subscription.objects.get().expires_at)

        report, _ = reconcile()

    assert report["subscriptions_expired"] == 1
    assert Subscription.objects.get().status == "expired"
    assert Event.objects.get(type="subscription.expired").data["expires_at"] == (
        "2026-02-28T10:00:00Z"
    )


def test_the_expiry_of_a_plan_cancels_the_add_on_checkouts_that_rely_on_it(user):
    """A checkout of add-ons alone relies on the user's plan. A refund of the plan cancelled
    such checkouts, its expiry did not: paid later, the add-ons were activated (and the
    customer charged) with no plan running."""
    plan = checkout(user, plan=PlanFactory()).invoice
    services.invoice_capture(invoice_id=plan.pk, payment_reference="plan", provider="payment")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    ended = Subscription.objects.get(invoice=plan).expires_at

    with time_machine.travel(ended, tick=False):
        report, _ = reconcile()

    assert report["subscriptions_expired"] == 1
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"


def test_an_add_on_checkout_paid_after_its_plan_ended_is_refused(api_client, user):
    """Paid between the plan's end and the sweep that records it: refused (409, the delivery
    flagged for a person to return the money) instead of add-ons with no plan running."""
    plan = checkout(user, plan=PlanFactory()).invoice
    services.invoice_capture(invoice_id=plan.pk, payment_reference="plan", provider="payment")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    ended = Subscription.objects.get(invoice=plan).expires_at

    with time_machine.travel(ended, tick=False):
        response = deliver(api_client, payment_body(add_ons))

    assert (response.status_code, response.json().get("code")) == (409, "invalid_state")
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "pending"
    assert PaymentEvent.objects.get(invoice=add_ons).outcome == "needs_review"
