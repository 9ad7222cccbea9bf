"""Two workers, two deliveries of one endpoint: the failure of an attempt sent before
another attempt answered 2xx, recorded after it, is no failure in a row of the endpoint.
Counted, a healthy endpoint was marked failing until its next success, and a quiet one
could be turned off minutes into its next outage, its "5 days of failures" dated from then.
Nor does its 410 turn the endpoint off, or its `Retry-After` pause it.
Each worker on a thread of its own with its own connection, the receiver on loopback, on
PostgreSQL as on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from events import services
from events.dispatch import deliveries_claim, deliveries_record, delivery_send
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


@pytest.fixture
def answers_first(request, settings):
    """A receiver that answers its first request as `request.param` says (status, headers),
    then 204, with two pings due at T."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    status, headers = request.param
    receiver = Receiver(fail_first=1, fail_status=status, fail_headers=headers).start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    for _ in range(2):
        services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=T)
    yield endpoint
    receiver.stop()


def recorded_together(outcomes, now) -> None:
    """One worker's batch: each outcome with the lease it was sent under."""
    held = [(delivery.pk, outcome, delivery.leased_until) for delivery, outcome in outcomes]
    as_a_worker(lambda: deliveries_record(held, now=now))


@pytest.mark.parametrize(
    "answers_first",
    [(410, {}), (503, {"Retry-After": "120"})],
    ids=["gone", "retry-after"],
    indirect=True,
)
@pytest.mark.parametrize("together", [False, True], ids=["other-worker-first", "same-batch"])
def test_a_410_or_retry_after_sent_before_a_newer_2xx_neither_turns_off_nor_pauses(
    answers_first, together
):
    """A's attempt is answered 410 (or 503 with `Retry-After`); B's, of another delivery of
    the endpoint sent a second later, 204: the receiver's newer word is that it takes events.
    A's answer, recorded after B's 2xx (or in one batch with it), turned the endpoint off
    (or paused it) all the same. It stays a failed attempt of A's delivery, on its schedule."""
    by_a, by_b = one_claimed(T), one_claimed(T)
    with webhook_session() as session:
        refused = delivery_send(by_a, now=T, session=session)
        delivered = delivery_send(by_b, now=T + timedelta(seconds=1), session=session)

    if together:
        recorded_together([(by_a, refused), (by_b, delivered)], T + timedelta(seconds=3))
    else:
        record(by_b, delivered, T + timedelta(seconds=2))
        record(by_a, refused, T + timedelta(seconds=3))

    endpoint = WebhookEndpoint.objects.get(pk=answers_first.pk)
    assert delivered.status_code == 204
    assert (endpoint.is_active, endpoint.disabled_reason, endpoint.paused_until) == (
        True,
        "",
        None,
    )
    row = Delivery.objects.get(pk=by_a.pk)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        T + timedelta(seconds=8),
    )
