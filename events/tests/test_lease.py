"""A worker whose lease lapsed while its attempt was on its way records that attempt after
another worker took the delivery: the late record must leave the other worker's lease, and
the schedule it will set, alone. Each worker on a thread of its own with its own connection,
on PostgreSQL as on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from events import services
from events.dispatch import Dispatcher, Outcome
from events.models import Delivery, DeliveryAttempt
from events.tests.lease_helpers import DELIVERED, FAILED, T, claim, record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


@pytest.fixture
def delivery(settings) -> Delivery:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_LEASE_SECONDS = 60
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=T)
    return Delivery.objects.get(endpoint=endpoint)


def test_a_late_record_leaves_the_lease_of_the_worker_that_took_the_delivery_since(delivery):
    (by_a,) = claim(T)
    (by_b,) = claim(T + timedelta(seconds=61))  # A's lease lapsed: B sends it again

    record(by_a, FAILED, T + timedelta(seconds=62))

    # B's attempt is still on its way: nobody else may take the delivery before B's lease ends.
    assert claim(T + timedelta(seconds=70)) == []
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.leased_until, row.attempts) == ("pending", by_b.leased_until, 1)
    record(by_b, DELIVERED, T + timedelta(seconds=72))
    row.refresh_from_db()
    assert (row.status, row.attempts, row.leased_until) == ("succeeded", 2, None)
    assert list(DeliveryAttempt.objects.order_by("attempt").values_list("status_code")) == [
        (503,),
        (204,),
    ]


def test_a_late_record_that_arrived_makes_the_delivery_delivered(delivery):
    (by_a,) = claim(T)
    (by_b,) = claim(T + timedelta(seconds=61))

    record(by_a, DELIVERED, T + timedelta(seconds=62))
    record(by_b, FAILED, T + timedelta(seconds=63))

    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.attempts, row.leased_until) == ("succeeded", 2, None)


def test_a_record_whose_lease_lapsed_with_nobody_taking_it_counts_as_ever(delivery):
    (by_a,) = claim(T)

    record(by_a, FAILED, T + timedelta(seconds=90))

    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.attempts, row.leased_until, row.next_attempt_at) == (
        "pending",
        1,
        None,
        T + timedelta(seconds=95),
    )


def test_the_dispatcher_records_an_outcome_with_the_lease_it_was_sent_under(delivery):
    dispatcher = Dispatcher(threads=2)
    try:
        assert dispatcher.dispatch() == 1
        delivery_id, outcome, lease = dispatcher.outcomes.get(timeout=15)
    finally:
        dispatcher.pool.shutdown(wait=True)

    assert (delivery_id, outcome.delivered) == (delivery.pk, False)
    assert lease is not None
    assert lease == Delivery.objects.get(pk=delivery.pk).leased_until


def test_a_late_410_still_turns_the_endpoint_off(delivery):
    """Gone is the receiver's word about the endpoint, not about one lease: the worker that
    heard it late has the only answer there is, and B's attempt will hear the same."""
    (by_a,) = claim(T)
    claim(T + timedelta(seconds=61))  # A's lease lapsed: B sends it again

    record(by_a, Outcome(410, 40, "HTTP 410"), T + timedelta(seconds=62))

    endpoint = delivery.endpoint
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_at) == (False, T + timedelta(seconds=62))
    assert endpoint.disabled_reason.startswith("The endpoint answered 410 Gone")
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.last_error) == ("failed", "The endpoint answered 410 Gone.")


@pytest.mark.parametrize(
    "late",
    [Outcome(410, 40, "HTTP 410"), Outcome(429, 40, "HTTP 429", retry_after=timedelta(hours=1))],
    ids=["gone", "retry-after"],
)
def test_a_late_answer_heard_after_another_worker_delivered_it_leaves_the_endpoint_alone(
    delivery, late
):
    """B's attempt, sent after A's had ended, was delivered: the receiver's newer word. A's
    410 or 429, recorded after it, must not turn the endpoint off (giving up its other
    events) or pause it; it is logged as it went and the delivery stays delivered."""
    (by_a,) = claim(T)
    (by_b,) = claim(T + timedelta(seconds=61))
    services.endpoint_ping(endpoint_id=delivery.endpoint_id)
    record(by_b, DELIVERED, T + timedelta(seconds=62))

    record(by_a, late, T + timedelta(seconds=63))

    endpoint = delivery.endpoint
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason, endpoint.paused_until) == (True, "", None)
    assert (endpoint.failing_since, endpoint.failed_attempts) == (None, 0)
    statuses = Delivery.objects.filter(endpoint=endpoint).order_by("pk")
    assert list(statuses.values_list("status", "attempts")) == [("succeeded", 2), ("pending", 0)]
    assert list(DeliveryAttempt.objects.order_by("attempt").values_list("status_code")) == [
        (204,),
        (late.status_code,),
    ]
