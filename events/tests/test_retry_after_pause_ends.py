"""A receiver that answers 429 Too Many Requests or 503 Service Unavailable with `Retry-After`
is sent nothing more before then (Standard Webhooks, "Delivery success and failure"): the
delivery it answered, and its endpoint's other deliveries, wait at least that long, at most the
schedule's last wait (24 h); an unreadable or past `Retry-After`, or one on another answer,
leaves the schedule as it was. Its attempt is one failure, as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction

from events import services
from events.dispatch import (
    BACKOFF,
    Dispatcher,
    delivery_record,
)
from events.models import Delivery, WebhookEndpoint
from events.tests.retry_after_helpers import (
    NOW,
    PAUSE,
    database_now,
    due_to,
    pings,
    send_and_record,
)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slow_down", [(429, "120")], indirect=True)
def test_the_worker_sends_the_endpoint_nothing_until_the_pause_ends(slow_down):
    with time_machine.travel(NOW, tick=True) as clock:
        pings(slow_down.endpoint, 2)
        # One sending thread: the first ping goes out alone, and is answered 429.
        dispatcher = Dispatcher(threads=1)
        assert dispatcher.dispatch() == 1
        while not dispatcher.record(wait=5):
            pass

        assert dispatcher.dispatch() == 0
        clock.shift(timedelta(seconds=121))
        while Delivery.objects.filter(status="pending").exists():
            if not dispatcher.dispatch():
                dispatcher.record(wait=5)
        dispatcher.close()

    assert len(slow_down.received) == 3
    assert sorted(Delivery.objects.values_list("attempts", flat=True)) == [1, 2]


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "600")], indirect=True)
def test_a_last_attempt_asked_to_come_back_later_gets_one_more_then(slow_down):
    """The receiver is up and says when it can take the event: giving it up after its last
    scheduled attempt lost an event the receiver had asked for in 10 minutes."""
    (delivery,) = pings(slow_down.endpoint, 1)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=len(BACKOFF))

    send_and_record(delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", len(BACKOFF) + 1)
    assert delivery.next_attempt_at == NOW + timedelta(minutes=10)

    # That one more is the last, whatever it is answered: a receiver that always asks for
    # later is not sent the event for ever.
    delivery_record(delivery.pk, PAUSE, now=NOW + timedelta(minutes=10))

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", len(BACKOFF) + 2)


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "3600")], indirect=True)
def test_events_emitted_and_resent_during_the_pause_wait_for_its_end(slow_down):
    """The receiver asked for nothing before then: a new event sent at once was answered 429
    too, each counted one more failure of the endpoint and used one of its attempts."""
    (paused,) = pings(slow_down.endpoint, 1)
    send_and_record(paused)
    later = NOW + timedelta(minutes=1)
    with time_machine.travel(later), transaction.atomic():
        (emitted,) = services.events_emit([services.Notice(type="ping", data={})])
    services.event_resend(event_id=paused.event_id)
    Delivery.objects.filter(endpoint=slow_down.endpoint).update(next_attempt_at=later)

    assert due_to(slow_down.endpoint, later) == []
    assert WebhookEndpoint.objects.get(pk=slow_down.endpoint.pk).failed_attempts == 1
    waiting = Delivery.objects.filter(endpoint=slow_down.endpoint).order_by("pk")
    assert due_to(slow_down.endpoint, NOW + timedelta(hours=1)) == [d.pk for d in waiting]
    assert Delivery.objects.filter(event_id=emitted).exists()


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "3600")], indirect=True)
def test_deliveries_made_during_the_pause_are_due_when_it_ends(slow_down):
    """Due at once, they showed staff (the delivery's next attempt) a time they would not go
    at, and every claim of the worker walked past all of them, up to a day of events. The
    worker paused it by the database's clock, by which new events are due (the web's, here
    months behind, is not)."""
    (paused,) = pings(slow_down.endpoint, 1)
    send_and_record(paused, now=database_now())
    Delivery.objects.filter(pk=paused.pk).update(status="failed")
    pause_ends = WebhookEndpoint.objects.get(pk=slow_down.endpoint.pk).paused_until
    later = NOW + timedelta(minutes=1)

    with time_machine.travel(later, tick=False):
        with transaction.atomic():
            services.events_emit([services.Notice(type="ping", data={})])
        services.endpoint_ping(endpoint_id=slow_down.endpoint.pk)
        services.event_resend(event_id=paused.event_id)

    assert set(
        Delivery.objects.filter(endpoint=slow_down.endpoint).values_list(
            "status", "next_attempt_at"
        )
    ) == {("pending", pause_ends)}
