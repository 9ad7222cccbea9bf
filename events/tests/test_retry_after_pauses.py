"""A receiver that answers 429 Too Many Requests or 503 Service Unavailable with `Retry-After`
is sent nothing more before then (Standard Webhooks, "Delivery success and failure"): the
delivery it answered, and its endpoint's other deliveries, wait at least that long, at most the
schedule's last wait (24 h); an unreadable or past `Retry-After`, or one on another answer,
leaves the schedule as it was. Its attempt is one failure, as before."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest

from events import services
from events.dispatch import (
    BACKOFF,
    deliveries_record,
)
from events.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.tests.receiver import Receiver
from events.tests.retry_after_helpers import NOW, PAUSE, due_to, pings, send_and_record

HTTP_DATE_IN_2_HOURS = format_datetime(NOW + timedelta(hours=2), usegmt=True)


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


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_429_without_retry_after_is_a_failure_like_any_other(loopback):
    """No wait asked for: the schedule's backoff, one failure of the endpoint, no pause, and
    a last attempt so answered is given up as any other (its extra attempt is for a receiver
    that said when)."""
    receiver = Receiver(fail_first=2, fail_status=429).start()
    try:
        endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
        delivery, last = pings(endpoint, 2)
        Delivery.objects.filter(pk=last.pk).update(attempts=len(BACKOFF))

        send_and_record(delivery)
        send_and_record(last)
    finally:
        receiver.stop()

    rows = Delivery.objects.in_bulk([delivery.pk, last.pk])
    assert (rows[delivery.pk].status, rows[delivery.pk].attempts) == ("pending", 1)
    assert rows[delivery.pk].next_attempt_at == NOW + BACKOFF[0]
    assert (rows[last.pk].status, rows[last.pk].last_error) == ("failed", "HTTP 429")
    endpoint.refresh_from_db()
    assert (endpoint.paused_until, endpoint.failing_since, endpoint.failed_attempts) == (
        None,
        NOW,
        2,
    )
    assert due_to(endpoint, NOW + timedelta(seconds=1)) == []
    assert due_to(endpoint, NOW + BACKOFF[0]) == [delivery.pk]
