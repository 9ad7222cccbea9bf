"""/metrics says what is due by the database's clock, the one deliveries are made due by and
the worker sends them by (events.services.outbox, events.dispatch.Dispatcher.now): read by
the web server's own clock, one running 10 minutes slow hid for 10 minutes every delivery
the worker had fallen behind on (the alert on the oldest came 10 minutes late), and one
running fast counted as late every retry due in the next 10 minutes. PostgreSQL only:
SQLite's database is a file on the web's own machine, whose clock is the database's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from events import services
from events.metrics import WebhookDeliveriesCollector
from events.models import Delivery, WebhookEndpoint
from events.tests.test_staff_clock import by_a_web_server, database_now

pytestmark = pytest.mark.django_db

DUE = "webhook_deliveries_due"
OLDEST = "webhook_deliveries_oldest_due_timestamp_seconds"


def metrics() -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in WebhookDeliveriesCollector().collect()
        for sample in family.samples
    }


@pytest.fixture
def delivery_due_in(loopback):
    """A pending ping's delivery, due `wait` from now by the database's clock."""
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hooks", event_types="|ping|")

    def due_in(wait: timedelta):
        with transaction.atomic():
            services.events_emit([services.Notice("ping", {"n": 1})])
        due = database_now() + wait
        Delivery.objects.update(next_attempt_at=due)
        return due

    return due_in


def test_a_delivery_late_by_the_database_s_clock_is_due_on_a_web_server_running_slow(
    delivery_due_in,
):
    due = delivery_due_in(timedelta(minutes=-5))

    with by_a_web_server(timedelta(minutes=-10)):
        read = metrics()

    assert read[DUE] == 1
    assert read[OLDEST] == due.timestamp()


def test_a_retry_not_yet_due_by_the_database_s_clock_is_not_late_on_a_web_server_running_fast(
    delivery_due_in,
):
    delivery_due_in(timedelta(minutes=5))

    with by_a_web_server(timedelta(minutes=10)):
        read = metrics()

    assert read[DUE] == 0
    assert OLDEST not in read


def test_a_pause_still_running_by_the_database_s_clock_holds_on_a_web_server_running_fast(
    delivery_due_in,
):
    """The receiver's `Retry-After` ends by the database's clock, as the worker honours it."""
    delivery_due_in(timedelta(minutes=-5))
    WebhookEndpoint.objects.update(paused_until=database_now() + timedelta(minutes=5))

    with by_a_web_server(timedelta(minutes=10)):
        read = metrics()

    assert read[DUE] == 0
