"""Delivery: signed by the Standard Webhooks scheme, at least once, retried with backoff,
every attempt recorded, one hanging endpoint never holding up the others."""

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from standardwebhooks import Webhook

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


def test_an_event_arrives_signed_with_a_stable_webhook_id(receiver):
    event = emit("tokens.low_balance", user_id="u", balance=3, threshold=10)
    dispatcher = Dispatcher(threads=4)

    dispatch_until(
        lambda: Delivery.objects.filter(status="succeeded").exists(), dispatcher=dispatcher
    )
    dispatcher.close()

    (got,) = receiver.received
    assert got.verified
    assert got.headers["webhook-id"] == event.webhook_id
    body = json.loads(got.body)
    assert (body["id"], body["type"], body["data"]["balance"]) == (
        event.webhook_id,
        "tokens.low_balance",
        3,
    )
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.attempt, attempt.status_code, attempt.error) == (1, 204, "")


def test_a_receiver_down_for_three_attempts_gets_the_event_on_the_fourth(loopback):
    down = Receiver(fail_first=3).start()
    endpoint = services.endpoint_create(url=down.url, event_types=["ping"])
    down.secrets.append(endpoint.secret)
    try:
        with time_machine.travel(NOW, tick=True) as clock:
            event = emit()
            dispatcher = Dispatcher(threads=2)
            for attempt in range(4):
                dispatch_until(
                    lambda n=attempt: (
                        len(down.received) > n and DeliveryAttempt.objects.count() > n
                    ),
                    dispatcher=dispatcher,
                )
                if attempt < 3:
                    clock.shift(BACKOFF[attempt] + timedelta(seconds=1))
            dispatcher.close()
    finally:
        down.stop()

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("succeeded", 4)
    assert list(
        DeliveryAttempt.objects.order_by("attempt").values_list("status_code", flat=True)
    ) == [
        500,
        500,
        500,
        204,
    ]
    assert {got.headers["webhook-id"] for got in down.received} == {event.webhook_id}


def test_a_hanging_receiver_does_not_hold_up_another(loopback):
    stuck = Receiver(hold=threading.Event()).start()
    quick = Receiver().start()
    for receiver in (stuck, quick):
        receiver.endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    try:
        for number in range(12):
            emit(n=number)
        dispatcher = Dispatcher(threads=8)
        dispatch_until(lambda: stuck.arrived.is_set(), dispatcher=dispatcher)
        dispatch_until(
            lambda: (
                Delivery.objects.filter(endpoint=quick.endpoint, status="succeeded").count() == 12
            ),
            dispatcher=dispatcher,
        )

        # The hanging endpoint holds its quarter of the threads (2 of 8), never more.
        assert len(stuck.received) == 2
        assert Delivery.objects.filter(endpoint=stuck.endpoint, status="pending").count() == 12
        assert not DeliveryAttempt.objects.filter(delivery__endpoint=stuck.endpoint).exists()
    finally:
        stuck.stop()
        quick.stop()
        dispatcher.close()


def test_after_every_retry_fails_the_delivery_is_given_up():
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    event = Event.objects.create(type="ping", data={})
    delivery = Delivery.objects.create(event=event, endpoint=endpoint)

    for number in range(len(BACKOFF) + 1):
        delivery_record(
            delivery.pk, Outcome(500, 3, "HTTP 500"), now=NOW + timedelta(minutes=number)
        )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", len(BACKOFF) + 1)


def test_after_a_rotation_both_secrets_sign_for_24_hours(receiver):
    old = receiver.endpoint.secret
    rotated = services.endpoint_rotate_secret(endpoint_id=receiver.endpoint.pk)
    receiver.secrets[:] = [rotated.secret]
    emit()
    dispatcher = Dispatcher(threads=2)

    dispatch_until(lambda: receiver.received, dispatcher=dispatcher)
    dispatcher.close()

    got = receiver.received[0]
    assert got.verified
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)


def test_a_url_that_turned_private_is_not_sent_to(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: ["93.184.215.14"])
    endpoint = services.endpoint_create(url="https://hooks.example.net/x", event_types=["ping"])
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: ["10.0.0.7"])
    emit()
    dispatcher = Dispatcher(threads=2)

    dispatch_until(lambda: DeliveryAttempt.objects.exists(), dispatcher=dispatcher)
    dispatcher.close()

    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None
    assert "private" in attempt.error
    assert Delivery.objects.get(endpoint=endpoint).status == "pending"
