"""The worker's minute sweeps end a period that is over: its subscription is recorded expired
and the seller's systems are told (`subscription.expired`) within the minute, as lots and
holds are, not at the next hourly reconciliation, which asks Stripe first."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing.models import Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory
from events.models import Event
from jobs import tasks

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def minute_sweeps() -> None:
    """One run of each sweep the worker runs every minute."""
    for job, every in tasks.SCHEDULE.values():
        if job is not tasks.deliver_webhooks and every <= timedelta(minutes=1):
            job.call()


def test_a_period_that_is_over_is_recorded_expired_by_the_minute_sweeps(user):
    with time_machine.travel(START, tick=False):
        order = checkout(user, plan=PlanFactory(), add_ons=[AddOnFactory()])
        capture(order.invoice)
    ended = Subscription.objects.get(invoice=order.invoice)

    with time_machine.travel(ended.expires_at + timedelta(seconds=30), tick=False):
        minute_sweeps()

    ended.refresh_from_db()
    assert ended.status == "expired"
    assert [add_on.status for add_on in ended.add_ons.all()] == ["expired"]
    told = Event.objects.filter(type="subscription.expired")
    assert [event.data["subscription_id"] for event in told] == [str(ended.pk)]


def test_a_period_still_running_is_left_active(user):
    with time_machine.travel(START, tick=False):
        order = checkout(user, plan=PlanFactory())
        capture(order.invoice)
    running = Subscription.objects.get(invoice=order.invoice)

    with time_machine.travel(running.expires_at - timedelta(seconds=1), tick=False):
        minute_sweeps()

    running.refresh_from_db()
    assert running.status == "active"
    assert not Event.objects.filter(type="subscription.expired").exists()
