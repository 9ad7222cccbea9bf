"""Two workers, two deliveries of one endpoint: the failure of an attempt sent before
another attempt answered 2xx, recorded after it, is no failure in a row of the endpoint.
Counted, a healthy endpoint was marked failing until its next success, and a quiet one
could be turned off minutes into its next outage, its "5 days of failures" dated from then.
Each worker on a thread of its own with its own connection, the receiver on loopback, on
PostgreSQL as on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from events import services
from events.dispatch import deliveries_claim, delivery_send
from events.models import Delivery, WebhookEndpoint
from events.tests.lease_helpers import T, as_a_worker, record
from events.tests.receiver import Receiver
from events.transport import webhook_session

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


@pytest.fixture
def fails_once(settings):
    """A receiver that answers its first request 500, then 204, with two pings due at T."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = Receiver(fail_first=1).start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    for _ in range(2):
        services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=T)
    yield endpoint
    receiver.stop()


def one_claimed(now) -> Delivery:
    (claimed,) = as_a_worker(lambda: deliveries_claim(limit=1, room={}, now=now, per_endpoint=1))
    return claimed


@pytest.mark.parametrize(
    ("failed_sent", "delivered_sent", "expected"),
    [
        (T, T + timedelta(seconds=1), (None, 0)),
        (T + timedelta(seconds=1), T, (T + timedelta(seconds=3), 1)),
    ],
    ids=["failure-sent-before-the-2xx", "failure-sent-after-the-2xx"],
)
def test_a_failure_recorded_after_a_newer_success_counts_no_failure_in_a_row(
    fails_once, failed_sent, delivered_sent, expected
):
    by_a, by_b = one_claimed(T), one_claimed(T)
    with webhook_session() as session:
        failed = delivery_send(by_a, now=failed_sent, session=session)
        delivered = delivery_send(by_b, now=delivered_sent, session=session)

    record(by_b, delivered, T + timedelta(seconds=2))
    record(by_a, failed, T + timedelta(seconds=3))

    endpoint = WebhookEndpoint.objects.get(pk=fails_once.pk)
    assert (failed.status_code, delivered.status_code) == (500, 204)
    assert (endpoint.failing_since, endpoint.failed_attempts) == expected
    row = Delivery.objects.get(pk=by_a.pk)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        T + timedelta(seconds=8),
    )
