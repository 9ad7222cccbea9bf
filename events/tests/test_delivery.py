"""Delivery: signed by the Standard Webhooks scheme, at least once, retried with backoff,
every attempt recorded, one hanging endpoint never holding up the others."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import OperationalError, transaction
from django.utils import timezone
from standardwebhooks import Webhook

import events.dispatch
from events import services
from events.dispatch import (
    BACKOFF,
    DISABLE_AFTER_FAILURES,
    Dispatcher,
    Outcome,
    deliveries_claim,
    delivery_record,
)
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from events.tests.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def emit(kind: str = "ping", **data) -> Event:
    with transaction.atomic():
        (event_id,) = services.events_emit([services.Notice(kind, data or {"n": 1})])
    return Event.objects.get(pk=event_id)


def dispatch_until(condition, *, dispatcher: Dispatcher, seconds: float = 10) -> None:
    """Dispatches what is due until `condition()` holds (the receiver is on another thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "nothing arrived in time"
        dispatcher.dispatch()
        time.sleep(0.05)


def many_failed_before(endpoint: WebhookEndpoint) -> None:
    """As though all but one of the attempts that turn an endpoint off had failed already
    (other deliveries', in between)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failed_attempts=DISABLE_AFTER_FAILURES - 1
    )


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


def test_an_endpoint_failing_for_5_days_is_turned_off():
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    first = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    waiting = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )

    delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW)
    many_failed_before(endpoint)
    delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW + timedelta(days=5))

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_at) == (False, NOW + timedelta(days=5))
    waiting.refresh_from_db()
    assert waiting.status == "failed"


def test_a_quiet_endpoint_is_not_turned_off_by_one_failure_a_week_after_the_last(loopback):
    """An endpoint sent an event a week: one given up after its whole schedule (9 attempts
    over two days), then the next event's first attempt failing (a deploy, a 503) a week
    later turned the endpoint off at once, that event given up after one attempt, as its
    failures then spanned 5 days. Turning off needs 5 days and DISABLE_AFTER_FAILURES
    failed attempts in a row."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    lost = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    at = NOW
    for wait in [*BACKOFF, None]:
        delivery_record(lost.pk, Outcome(503, 5, "HTTP 503"), now=at)
        at += wait or timedelta(0)
    next_week = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )

    delivery_record(next_week.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=7))

    endpoint.refresh_from_db()
    next_week.refresh_from_db()
    assert (endpoint.is_active, next_week.status) == (True, "pending")
    # Still failing once enough attempts in a row have failed, it is turned off.
    more = [
        Delivery.objects.create(event=Event.objects.create(type="ping", data={}), endpoint=endpoint)
        for _ in range(DISABLE_AFTER_FAILURES - len(BACKOFF) - 3)
    ]
    for delivery in more:
        delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=7))
    endpoint.refresh_from_db()
    assert endpoint.is_active
    delivery_record(next_week.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=8))
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_at) == (False, NOW + timedelta(days=8))


def test_an_endpoint_turned_off_for_failing_is_logged_for_the_operator(caplog):
    """Turned off after 5 days of failures, the endpoint said so only in its own row: no
    line reached the logs an operator watches, so a seller's integration stopped getting
    events and nobody was told until someone opened the endpoint. One warning, with its id
    (never its URL, which may carry a token) and what was given up, once it is committed."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    first, _waiting = (
        Delivery.objects.create(event=Event.objects.create(type="ping", data={}), endpoint=endpoint)
        for _ in range(2)
    )

    with caplog.at_level("WARNING", logger="events.dispatch.recording"):
        delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW)
        delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW + timedelta(days=1))
        assert caplog.records == []
        many_failed_before(endpoint)
        delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW + timedelta(days=5))

    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "WARNING",
            f"Webhook endpoint {endpoint.pk} turned off: every delivery failed for 5 days; "
            "2 pending deliveries given up. Turn it on again once it answers.",
        )
    ]


def test_a_success_clears_the_failure_clock():
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    delivery = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )

    delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=NOW)
    delivery_record(delivery.pk, Outcome(200, 5), now=NOW + timedelta(days=4))

    endpoint.refresh_from_db()
    assert (endpoint.failing_since, endpoint.is_active) == (None, True)


def test_a_new_url_starts_the_failure_clock_afresh(loopback):
    """Days of failures at a wrong URL, then the URL fixed: the first failure at the new
    one (a deploy, a 503) turned the endpoint off at once, its pending deliveries given up."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    delivery = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    delivery_record(delivery.pk, Outcome(None, 10000, "Timeout"), now=NOW)

    services.endpoint_update(endpoint_id=endpoint.pk, url="http://127.0.0.1:10/")
    delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=5))

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.failing_since, endpoint.failed_attempts) == (
        True,
        NOW + timedelta(days=5),
        1,
    )
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_the_same_url_sent_again_keeps_the_failure_clock(loopback):
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    delivery = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    delivery_record(delivery.pk, Outcome(None, 10000, "Timeout"), now=NOW)

    services.endpoint_update(endpoint_id=endpoint.pk, url="http://127.0.0.1:9/", description="x")

    endpoint.refresh_from_db()
    assert endpoint.failing_since == NOW


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


def test_the_worker_never_claims_a_delivery_of_a_turned_off_endpoint():
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)
    # A test event may be queued for an endpoint that is off; it waits until it is on again.
    services.endpoint_ping(endpoint_id=endpoint.pk)

    while_off = deliveries_claim(limit=10, room={}, now=timezone.now(), per_endpoint=2)
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)
    once_on = deliveries_claim(limit=10, room={}, now=timezone.now(), per_endpoint=2)

    assert while_off == []
    assert [delivery.event.type for delivery in once_on] == ["ping"]


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome(status_code=204, duration_ms=8), "succeeded"),
        (Outcome(status_code=503, duration_ms=8, error="HTTP 503"), "failed"),
    ],
    ids=["arrived", "refused"],
)
def test_an_attempt_on_its_way_when_its_endpoint_is_turned_off_is_logged(outcome, status):
    """Turning the endpoint off gave the delivery up while the attempt was being sent; the
    attempt's outcome was then dropped, so the log hid a request the endpoint received."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    services.endpoint_ping(endpoint_id=endpoint.pk)
    (on_its_way,) = deliveries_claim(limit=10, room={}, now=timezone.now(), per_endpoint=2)
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)

    delivery_record(on_its_way.pk, outcome, now=NOW)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (status, 1)
    assert list(delivery.attempt_log.values_list("attempt", "status_code")) == [
        (1, outcome.status_code)
    ]
    assert WebhookEndpoint.objects.get().failing_since is None


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
