"""Staff resend an event, or turn its endpoint off and on, while an attempt whose lease
lapsed, or that was given up, is still to be recorded: the late record must not undo them
by an answer from before the resend, or clear the lease of the worker that took the
delivery since. Each worker on a thread of its own with its own connection, the receiver
on loopback, on PostgreSQL as on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine

from events import services
from events.dispatch import Outcome, delivery_send
from events.models import Delivery, WebhookEndpoint
from events.tests.lease_helpers import DELIVERED, FAILED, claim, record
from events.tests.receiver import Receiver
from events.tests.retry_after_helpers import database_now, no_earlier_than
from events.transport import webhook_session

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


@pytest.fixture
def t() -> datetime:
    """The worker's clock as the test begins: the database's, which staff's resends and
    endpoints turned on are due by (events.services.outbox.database_clock)."""
    return database_now()


@pytest.fixture
def gone_once(settings, t):
    """A receiver that answers its first request 410 Gone, then 204, with an endpoint for
    pings and one ping due at t."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_LEASE_SECONDS = 60
    receiver = Receiver(fail_first=1, fail_status=410).start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=t)
    yield Delivery.objects.get(endpoint=endpoint)
    receiver.stop()


def sent(delivery: Delivery, now) -> Outcome:
    """The worker's attempt, over the network."""
    with webhook_session() as session:
        return delivery_send(delivery, now=now, session=session)


def endpoint_state(delivery: Delivery) -> tuple:
    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    return (endpoint.is_active, endpoint.disabled_reason, endpoint.paused_until)


def test_a_410_heard_before_another_worker_delivered_and_staff_resent_leaves_it_on(gone_once, t):
    """A's attempt is answered 410, its record delayed past its lease; B's, sent after,
    is delivered: the receiver's newer word. Staff resend the event, making the delivery
    pending again. A's 410 then turned the endpoint off, giving up the resend."""
    (by_a,) = claim(t)
    gone = sent(by_a, t)
    (by_b,) = claim(t + timedelta(seconds=61))
    record(by_b, sent(by_b, t + timedelta(seconds=61)), t + timedelta(seconds=62))
    with time_machine.travel(t + timedelta(seconds=63), tick=False):
        assert services.event_resend(event_id=gone_once.event_id) == 1

    record(by_a, gone, t + timedelta(seconds=64))

    assert (gone.status_code, endpoint_state(gone_once)) == (410, (True, "", None))
    assert [d.pk for d in claim(no_earlier_than(t + timedelta(seconds=64)))] == [gone_once.pk]


def test_a_410_heard_before_staff_turned_it_off_on_and_resent_leaves_it_on(gone_once, t):
    """The resend's delivery is pending under the lease of the attempt on its way, whose
    410 predates the turning on: it is the resend's first attempt, failed, retried 5 s later
    (the next attempt to hear 410 turns the endpoint off)."""
    (by_a,) = claim(t)
    gone = sent(by_a, t)
    with time_machine.travel(t + timedelta(seconds=1), tick=False):
        services.endpoint_update(endpoint_id=gone_once.endpoint_id, is_active=False)
        services.endpoint_update(endpoint_id=gone_once.endpoint_id, is_active=True)
        assert services.event_resend(event_id=gone_once.event_id) == 1

    record(by_a, gone, t + timedelta(seconds=2))

    assert endpoint_state(gone_once) == (True, "", None)
    row = Delivery.objects.get(pk=gone_once.pk)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        t + timedelta(seconds=7),
    )


@pytest.mark.parametrize(
    ("turned_off", "late"),
    [(True, FAILED), (True, DELIVERED), (False, DELIVERED)],
    ids=["given-up-failed", "given-up-delivered", "delivered"],
)
def test_a_late_record_keeps_the_lease_of_the_attempt_on_its_way(gone_once, t, turned_off, late):
    """A's lease lapsed and B took the delivery; it was given up (its endpoint turned off)
    or not. A's late record cleared B's lease: staff turning the endpoint on and resending
    within B's attempt had the delivery taken at once and sent twice at the same time."""
    (by_a,) = claim(t)
    (by_b,) = claim(t + timedelta(seconds=61))
    endpoint_id = gone_once.endpoint_id
    with time_machine.travel(t + timedelta(seconds=62), tick=False):
        if turned_off:
            services.endpoint_update(endpoint_id=endpoint_id, is_active=False)

    record(by_a, late, t + timedelta(seconds=63))
    with time_machine.travel(t + timedelta(seconds=64), tick=False):
        services.endpoint_update(endpoint_id=endpoint_id, is_active=True)
        assert services.event_resend(event_id=gone_once.event_id) == 1

    assert claim(t + timedelta(seconds=65)) == []
    assert Delivery.objects.get(pk=gone_once.pk).leased_until == by_b.leased_until
    # B's worker died: taken again once its lease lapses, at least once.
    assert [d.pk for d in claim(no_earlier_than(by_b.leased_until))] == [gone_once.pk]
