"""Delivery: signed by the Standard Webhooks scheme, at least once, retried with backoff,
every attempt recorded, one hanging endpoint never holding up the others."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import OperationalError
from django.utils import timezone

import events.dispatch
from events import services
from events.dispatch import (
    BACKOFF,
    Dispatcher,
    Outcome,
    delivery_record,
)
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from events.tests.delivery_helpers import NOW, dispatch_until, emit
from events.tests.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_delivery_still_on_its_way_is_not_sent_again_when_its_lease_lapses(
    loopback, settings, monkeypatch
):
    settings.WEBHOOK_LEASE_SECONDS = 1
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 3)
    stuck = Receiver(hold=threading.Event()).start()
    services.endpoint_create(url=stuck.url, event_types=["ping"])
    emit()
    dispatcher = Dispatcher(threads=8)

    try:
        # The lease lapses after 1 s; the answer is given up at 3 s.
        dispatch_until(lambda: DeliveryAttempt.objects.exists(), dispatcher=dispatcher)
    finally:
        stuck.stop()
        dispatcher.close()

    assert len(stuck.received) == 1
    assert DeliveryAttempt.objects.get().error == "ReadTimeout after 3 s"


def test_a_delivery_whose_outcome_was_lost_goes_out_again_after_its_lease(receiver, monkeypatch):
    """The outcome's write failed (the connection dropped): the dispatcher kept the delivery
    as its own in flight for the rest of its life, and never sent it again."""
    emit()
    dispatcher = Dispatcher(threads=2)
    record = events.dispatch.recording.deliveries_record

    def connection_dropped(*args, **kwargs):
        raise OperationalError("the connection is closed")

    try:
        assert dispatcher.dispatch() == 1
        monkeypatch.setattr(events.dispatch.recording, "deliveries_record", connection_dropped)
        with pytest.raises(OperationalError):
            dispatcher.record(wait=10)
        monkeypatch.setattr(events.dispatch.recording, "deliveries_record", record)
        Delivery.objects.update(leased_until=timezone.now() - timedelta(seconds=1))

        assert dispatcher.dispatch() == 1
        dispatcher.record(wait=10)
    finally:
        dispatcher.close()

    assert Delivery.objects.get().status == "succeeded"
    assert len(receiver.received) == 2


def test_a_resent_delivery_that_fails_is_retried_on_the_whole_schedule():
    """A delivery given up after every retry, resent once its endpoint is back: its first
    failure after the resend gave it up again at once (the schedule counted the attempts
    before the resend), so one 503 while the endpoint warmed up lost the event again."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    event = Event.objects.create(type="ping", data={})
    delivery = Delivery.objects.create(event=event, endpoint=endpoint)
    for number in range(len(BACKOFF) + 1):
        delivery_record(
            delivery.pk, Outcome(500, 3, "HTTP 500"), now=NOW + timedelta(minutes=number)
        )
    later = NOW + timedelta(days=2)

    with time_machine.travel(later, tick=False):
        assert services.event_resend(event_id=event.pk) == 1
    delivery_record(delivery.pk, Outcome(503, 3, "HTTP 503"), now=later)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("pending", later + BACKOFF[0])
    assert delivery.attempt_log.count() == len(BACKOFF) + 2
