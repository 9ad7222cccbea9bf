"""A receiver that answers 429 Too Many Requests or 503 Service Unavailable with `Retry-After`
is sent nothing more before then (Standard Webhooks, "Delivery success and failure"): the
delivery it answered, and its endpoint's other deliveries, wait at least that long, at most the
schedule's last wait (24 h); an unreadable or past `Retry-After`, or one on another answer,
leaves the schedule as it was. Its attempt is one failure, as before."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.utils import timezone

from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from events import services
from events.dispatch import (
    BACKOFF,
    Dispatcher,
    Outcome,
    deliveries_record,
    delivery_record,
    delivery_send,
)
from events.dispatch.claiming import deliveries_claim
from events.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.tests.receiver import Receiver
from events.transport import webhook_session

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
HTTP_DATE_IN_2_HOURS = format_datetime(NOW + timedelta(hours=2), usegmt=True)
PAUSE = Outcome(429, 4, "HTTP 429", retry_after=timedelta(hours=1))


@pytest.fixture
def slow_down(loopback, request):
    """A receiver answering its first request `(status, Retry-After)`, then 204s, with an
    endpoint for pings."""
    status, value = request.param
    receiver = Receiver(fail_first=1, fail_status=status, fail_headers={"Retry-After": value})
    receiver.start()
    receiver.endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    yield receiver
    receiver.stop()


def pings(endpoint: WebhookEndpoint, count: int) -> list[Delivery]:
    for _ in range(count):
        services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=NOW)
    return list(Delivery.objects.filter(endpoint=endpoint).order_by("pk"))


def send_and_record(delivery: Delivery) -> None:
    delivery = Delivery.objects.select_related("event", "endpoint").get(pk=delivery.pk)
    with webhook_session() as session:
        outcome = delivery_send(delivery, now=NOW, session=session)
    delivery_record(delivery.pk, outcome, now=NOW)


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("slow_down", "wait"),
    [
        ((429, "3600"), timedelta(hours=1)),
        ((503, "120"), timedelta(minutes=2)),
        ((429, HTTP_DATE_IN_2_HOURS), timedelta(hours=2)),
        ((503, "999999999999999999999999"), BACKOFF[-1]),
        ((429, "Thu, 02 Mar 2028 10:00:00 GMT"), BACKOFF[-1]),
        # Unreadable, or no wait at all: the schedule's.
        ((429, "-5"), BACKOFF[0]),
        ((429, "1.5"), BACKOFF[0]),
        ((429, "soon"), BACKOFF[0]),
        ((429, "0"), BACKOFF[0]),
        ((503, "Mon, 02 Mar 2026 09:00:00 GMT"), BACKOFF[0]),
        # Only a 429 or a 503 asks for a pause.
        ((500, "3600"), BACKOFF[0]),
        ((502, "3600"), BACKOFF[0]),
    ],
    indirect=["slow_down"],
)
def test_the_next_attempt_waits_for_the_retry_after_within_bounds(slow_down, wait):
    delivery, waiting = pings(slow_down.endpoint, 2)

    send_and_record(delivery)

    rows = Delivery.objects.in_bulk([delivery.pk, waiting.pk])
    assert (rows[delivery.pk].status, rows[delivery.pk].attempts) == ("pending", 1)
    assert rows[delivery.pk].next_attempt_at == NOW + wait
    # The endpoint's other delivery waits as long, or goes when it was due.
    held = NOW + wait if wait > BACKOFF[0] else NOW
    assert (rows[waiting.pk].next_attempt_at, rows[waiting.pk].attempts) == (held, 0)


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "3600")], indirect=True)
def test_a_pause_counts_one_failure_and_holds_no_other_endpoint(slow_down):
    delivery, later = pings(slow_down.endpoint, 2)
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=NOW + timedelta(hours=3))
    other = services.endpoint_create(url="http://127.0.0.1:9/other", event_types=["ping"])
    (elsewhere,) = pings(other, 1)

    send_and_record(delivery)

    endpoint = WebhookEndpoint.objects.get(pk=slow_down.endpoint.pk)
    assert (endpoint.is_active, endpoint.failing_since, endpoint.failed_attempts) == (
        True,
        NOW,
        1,
    )
    rows = Delivery.objects.in_bulk([later.pk, elsewhere.pk])
    # Due after the pause already: never brought forward.
    assert rows[later.pk].next_attempt_at == NOW + timedelta(hours=3)
    assert rows[elsewhere.pk].next_attempt_at == elsewhere.next_attempt_at
    assert list(DeliveryAttempt.objects.values_list("status_code", "error")) == [(429, "HTTP 429")]


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
@pytest.mark.parametrize("endpoints", [1, 4])
def test_a_batch_of_pauses_costs_the_same_statements_however_many_endpoints(
    endpoints, loopback, django_assert_max_num_queries
):
    batch = []
    for n in range(endpoints):
        endpoint = services.endpoint_create(url=f"http://127.0.0.1:9/{n}", event_types=["ping"])
        batch += [(delivery.pk, PAUSE) for delivery in pings(endpoint, 3)]

    # The locks (endpoints, deliveries), the attempts, the retried deliveries, the pause (of
    # the endpoints, of their deliveries), the endpoints' failures, and the transaction's
    # savepoint and release: none per endpoint.
    with django_assert_max_num_queries(9):
        deliveries_record(batch, now=NOW)

    assert set(Delivery.objects.values_list("next_attempt_at", flat=True)) == {
        NOW + timedelta(hours=1)
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
def test_a_pause_recorded_while_staff_fix_the_url_finishes_both(loopback):
    """The pause holds the endpoint's other deliveries after the endpoint's lock, as a new URL
    brings them forward: held up on one of them, it makes the change wait, never deadlock."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "a race of row locks: SQLite has one write lock for the whole database, so the "
            "recording and the URL change cannot interleave there"
        )
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = pings(endpoint, 2)
    start = timezone.now()
    done: dict[str, object] = {}

    def in_thread(name: str, work) -> threading.Thread:
        def run() -> None:
            try:
                done[name] = work()
            except Exception as error:  # the test reports whatever the work raised
                done[name] = error
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with row_locked("SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE", [other.pk]):
        recording = in_thread(
            "record", lambda: deliveries_record([(recorded.pk, PAUSE)], now=start)
        )
        wait_until(lambda: "record" in done or sessions_waiting_on_a_lock() >= 1)
        fixing = in_thread(
            "fix",
            lambda: (
                services.endpoint_update(endpoint_id=endpoint.pk, url="http://127.0.0.1:9/ok").url
            ),
        )
        wait_until(lambda: "fix" in done or sessions_waiting_on_a_lock() >= 2)
    recording.join()
    fixing.join()

    assert done == {"record": None, "fix": "http://127.0.0.1:9/ok"}
    # Fixed after the pause: both deliveries were brought forward, their attempts kept.
    rows = Delivery.objects.in_bulk([recorded.pk, other.pk])
    assert [
        (rows[d.pk].attempts, rows[d.pk].next_attempt_at < start + PAUSE.retry_after)
        for d in (recorded, other)
    ] == [(1, True), (0, True)]


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


def due_to(endpoint: WebhookEndpoint, now: datetime) -> list[int]:
    claimed = deliveries_claim(limit=10, room={}, now=now, per_endpoint=10)
    return sorted(delivery.pk for delivery in claimed if delivery.endpoint_id == endpoint.pk)


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
@pytest.mark.parametrize(
    "fix", [{"url": "http://127.0.0.1:9/fixed"}, {"is_active": False}], ids=["url", "off-on"]
)
def test_a_staff_fix_lifts_the_pause(slow_down, fix):
    """A new URL is another receiver, and an endpoint turned on again was said fixed by staff:
    the pause asked for at the old one no longer holds (as its backoff does not)."""
    (paused,) = pings(slow_down.endpoint, 1)
    send_and_record(paused)
    services.endpoint_update(endpoint_id=slow_down.endpoint.pk, **fix)
    if fix.get("is_active") is False:
        services.endpoint_update(endpoint_id=slow_down.endpoint.pk, is_active=True)
    pings(slow_down.endpoint, 1)
    pending = Delivery.objects.filter(endpoint=slow_down.endpoint, status="pending")

    due = due_to(slow_down.endpoint, NOW + timedelta(minutes=1))

    assert due == list(pending.order_by("pk").values_list("pk", flat=True))
    assert len(due) == (2 if "url" in fix else 1)


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "3600")], indirect=True)
def test_deliveries_made_during_the_pause_are_due_when_it_ends(slow_down):
    """Due at once, they showed staff (the delivery's next attempt) a time they would not go
    at, and every claim of the worker walked past all of them, up to a day of events."""
    (paused,) = pings(slow_down.endpoint, 1)
    send_and_record(paused)
    Delivery.objects.filter(pk=paused.pk).update(status="failed")
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
    ) == {("pending", NOW + timedelta(hours=1))}
