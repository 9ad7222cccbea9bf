"""An event resent while its delivery is on its way (leased by a worker): the lease stays,
so no other worker takes it at once and sends the endpoint the same event twice at the same
time; the attempt on its way counts as the resend's first."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine

from events import services
from events.dispatch.claiming import deliveries_claim
from events.dispatch.recording import delivery_record
from events.dispatch.sending import Outcome
from events.models import Delivery, DeliveryAttempt
from events.tests.retry_after_helpers import database_now, no_earlier_than

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def ping(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint = services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    return services.endpoint_ping(endpoint_id=endpoint.pk)


@pytest.fixture
def now(ping) -> datetime:
    """The worker's clock, the database's, once the ping is due (it is due by that clock)."""
    return database_now()


def claim(at: datetime) -> list[int]:
    """What a worker with nothing of its own in flight leases at `at`."""
    return [d.pk for d in deliveries_claim(limit=10, room={}, now=at, per_endpoint=5)]


def test_a_delivery_resent_on_its_way_is_not_taken_by_another_worker(ping, now, settings):
    delivery = Delivery.objects.get(event=ping)
    on_its_way = claim(now)

    with time_machine.travel(now + timedelta(seconds=1), tick=False):
        assert services.event_resend(event_id=ping.pk) == 1
    taken_again = claim(now + timedelta(seconds=2))
    lapsed = no_earlier_than(now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS + 1))

    assert (on_its_way, taken_again) == ([delivery.pk], [])
    assert claim(lapsed) == [delivery.pk]  # its worker died: taken again, at least once


def test_the_attempt_on_its_way_counts_as_the_resend_s_first(ping, now):
    delivery = Delivery.objects.get(event=ping)
    claim(now)
    with time_machine.travel(now + timedelta(seconds=1), tick=False):
        services.event_resend(event_id=ping.pk)

    delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=now + timedelta(seconds=3))

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        Delivery.Status.PENDING,
        1,
        now + timedelta(seconds=8),
    )
    assert list(DeliveryAttempt.objects.values_list("attempt", flat=True)) == [1]
    assert claim(now + timedelta(seconds=8)) == [delivery.pk]


def test_an_attempt_recorded_after_its_endpoint_was_turned_off_holds_no_resend_back(ping, now):
    """Its lease is cleared with the late attempt's record: nothing of it is on its way."""
    delivery = Delivery.objects.get(event=ping)
    claim(now)
    with time_machine.travel(now + timedelta(seconds=1), tick=False):
        services.endpoint_update(endpoint_id=delivery.endpoint_id, is_active=False)
    delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=now + timedelta(seconds=2))
    with time_machine.travel(now + timedelta(seconds=3), tick=False):
        services.endpoint_update(endpoint_id=delivery.endpoint_id, is_active=True)
        services.event_resend(event_id=ping.pk)

    assert claim(no_earlier_than(now + timedelta(seconds=3))) == [delivery.pk]
