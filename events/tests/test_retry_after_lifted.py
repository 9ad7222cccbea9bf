"""Staff lifting a pause its receiver asked for (`Retry-After`), without giving up what is
pending: a mistaken `Retry-After: 86400` held an endpoint for a day, and the only ways out
were a new URL, or turning it off and on, which gave up every pending delivery."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from common.errors import InvalidState
from events import services
from events.dispatch import BACKOFF, Outcome, deliveries_record, delivery_record, delivery_send
from events.dispatch.claiming import deliveries_claim
from events.models import Delivery, WebhookEndpoint
from events.tests.concurrency_helpers import _recording_beside, _two_pending
from events.tests.receiver import Receiver
from events.tests.retry_after_helpers import (
    NOW,
    database_now,
    due_to,
    no_earlier_than,
    pings,
    send_and_record,
)
from events.transport import webhook_session

LIFT = {"action": "lift_pause"}


def _state(endpoint: WebhookEndpoint) -> tuple:
    deliveries = Delivery.objects.filter(endpoint=endpoint).order_by("pk")
    return (
        WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get(),
        list(deliveries.values("status", "attempts", "next_attempt_at")),
    )


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "86400")], indirect=True)
def test_staff_lift_a_pause_and_its_pending_deliveries_go_now(slow_down, staff_browser):
    """The answered delivery and one made during the pause are due at once, each keeping
    its attempts; the endpoint keeps its failure, as nothing was said fixed."""
    endpoint = slow_down.endpoint
    (paused,) = pings(endpoint, 1)
    # Paused by the database's clock, which the worker honours the pause by.
    send_and_record(paused, now=database_now())

    services.endpoint_ping(endpoint_id=endpoint.pk)
    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_changelist"),
        {**LIFT, "_selected_action": [endpoint.pk]},
        follow=True,
    )
    later = database_now()

    assert [str(message) for message in response.context["messages"]] == [
        "Pause lifted: pending deliveries are due now."
    ]
    endpoint.refresh_from_db()
    assert (endpoint.paused_until, endpoint.is_active, endpoint.failed_attempts) == (None, True, 1)
    pending = Delivery.objects.filter(endpoint=endpoint, status="pending").order_by("pk")
    lifted = pending[0].next_attempt_at  # by the database's clock (database_clock)
    assert [(d.attempts, d.next_attempt_at) for d in pending] == [(1, lifted), (0, lifted)]
    assert lifted <= later
    assert due_to(endpoint, later) == [d.pk for d in pending]


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("slow_down", [(429, "3600")], indirect=True)
@pytest.mark.parametrize("when", ["pause-over", "off"])
def test_lifting_no_pause_is_refused_and_changes_nothing(slow_down, staff_browser, when):
    """A pause already over has nothing to lift; an endpoint that is off is sent nothing, and
    turning it on lifts its pause."""
    endpoint = slow_down.endpoint
    (paused,) = pings(endpoint, 1)
    # An hour's pause by the database's clock (the worker's): over, or still on.
    send_and_record(
        paused, now=database_now() - (timedelta(hours=2) if when == "pause-over" else timedelta(0))
    )
    if when == "off":
        services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)
    before = _state(endpoint)

    with pytest.raises(InvalidState) as refused:
        services.endpoint_pause_lift(endpoint_id=endpoint.pk)
    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_changelist"),
        {**LIFT, "_selected_action": [endpoint.pk]},
        follow=True,
    )

    assert str(refused.value) == (
        "The endpoint is not paused."
        if when == "pause-over"
        else "The endpoint is off; turning it on again lifts its pause."
    )
    assert [str(message) for message in response.context["messages"]] == [
        f"Not lifted: {endpoint.url}: {refused.value}"
    ]
    assert _state(endpoint) == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
@pytest.mark.parametrize("recorded_first", [True, False], ids=["recorded-first", "other-first"])
def test_lifting_a_pause_while_an_attempt_is_recorded_finishes_both(loopback, recorded_first):
    """The lift takes the endpoint's row, then its deliveries, as recording does: in the
    other order the two deadlocked."""
    if connection.vendor != "postgresql":
        pytest.skip("a race of row locks: SQLite has one write lock for the whole database")
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = _two_pending(endpoint, recorded_first=recorded_first)
    until = timezone.now() + timedelta(hours=24)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_until=until)
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=until)

    outcomes = _recording_beside(
        lambda: services.endpoint_pause_lift(endpoint_id=endpoint.pk), recorded, other
    )

    assert outcomes == {"change": 2, "record": None}
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).paused_until is None
    rows = Delivery.objects.in_bulk([recorded.pk, other.pk])
    assert [
        (rows[d.pk].attempts, rows[d.pk].next_attempt_at < until) for d in (recorded, other)
    ] == [
        (1, True),
        (0, True),
    ]


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_retry_after_to_an_attempt_sent_before_the_lift_does_not_pause_again(loopback):
    """Two attempts on their way, both answered 429 with `Retry-After: 3600`: the first
    recorded pauses the endpoint, staff lift the pause, then the second (its delivery's last
    attempt) is recorded. Its answer predates the lift and paused the endpoint again for an
    hour, undoing it, and held its delivery as long; now it is one failure, and its delivery
    goes now as the lift's others did (as a delivery whose attempt went to a URL changed
    since does), one attempt short of its last. An attempt sent after the lift is heard as
    ever."""
    receiver = Receiver(fail_first=3, fail_status=429, fail_headers={"Retry-After": "3600"})
    receiver.start()
    now = database_now()  # the worker's clock: the database's
    try:
        with time_machine.travel(now, tick=False) as clock:
            endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
            first, second = pings(endpoint, 2)
            Delivery.objects.filter(pk=second.pk).update(attempts=len(BACKOFF))
            claimed = deliveries_claim(limit=2, room={}, now=now, per_endpoint=2)
            first_answer, second_answer = sent(claimed, now)
            delivery_record(first.pk, first_answer, now=now + timedelta(seconds=1))
            clock.move_to(now + timedelta(seconds=2))
            services.endpoint_pause_lift(endpoint_id=endpoint.pk)

            delivery_record(second.pk, second_answer, now=now + timedelta(seconds=3))

            endpoint.refresh_from_db()
            assert (endpoint.paused_until, endpoint.failed_attempts) == (None, 2)
            rows = Delivery.objects.filter(endpoint=endpoint).order_by("pk")
            assert [(d.status, d.attempts, d.next_attempt_at) for d in rows] == [
                ("pending", 1, rows[0].next_attempt_at),
                ("pending", len(BACKOFF) - 1, now + timedelta(seconds=3)),
            ]
            # The lift made the first due by the database's clock (database_clock).
            assert now <= rows[0].next_attempt_at <= database_now()
            later = no_earlier_than(now + timedelta(seconds=3))
            claimed = deliveries_claim(limit=2, room={}, now=later, per_endpoint=2)
            assert sorted(d.pk for d in claimed) == [first.pk, second.pk]
            deliveries_record(
                [(d.pk, answer) for d, answer in zip(claimed, sent(claimed, later), strict=True)],
                now=later,
            )
    finally:
        receiver.stop()
    endpoint.refresh_from_db()
    assert endpoint.paused_until == later + timedelta(hours=1)


def sent(claimed: list[Delivery], now: datetime = NOW) -> list[Outcome]:
    """Each claimed delivery's attempt, as the worker sends it at `now`."""
    with webhook_session() as session:
        return [delivery_send(delivery, now=now, session=session) for delivery in claimed]
