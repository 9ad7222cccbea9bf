"""Two workers whose clocks disagree by seconds. Which of an endpoint's answers is the
receiver's newer word was decided by comparing when each attempt was sent, as each worker's
own clock said: one running 30 s fast, its 2xx was "newer" than a 410 another worker was
answered after it, and the endpoint that said it was gone stayed on. Each worker now takes
its stamps from its clock set to the database's, the one clock both read. On PostgreSQL:
workers on several machines share it only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events import services
from events.dispatch import Dispatcher
from events.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.tests.delivery_helpers import dispatch_until
from events.tests.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def worker(*, fast_by: timedelta) -> Dispatcher:
    return Dispatcher(threads=4, clock=lambda: timezone.now() + fast_by)


def recorded(count: int):
    return lambda: Delivery.objects.exclude(attempts=0).count() == count


@pytest.mark.parametrize("fast_by", [timedelta(seconds=30), timedelta(seconds=-30)])
def test_a_410_after_another_worker_s_2xx_turns_the_endpoint_off_whatever_their_clocks(
    loopback, fast_by
):
    """Worker A's attempt is answered 204; then worker B's, of another delivery of the
    endpoint, 410: the receiver's newest word is that it is gone."""
    receiver = Receiver().start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    for _ in range(2):
        services.endpoint_ping(endpoint_id=endpoint.pk)
    first, second = Delivery.objects.order_by("pk")
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))
    # Not A's: due once A's attempt is recorded.
    Delivery.objects.filter(pk=second.pk).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    a, b = worker(fast_by=fast_by), worker(fast_by=timedelta(0))
    try:
        dispatch_until(recorded(1), dispatcher=a)
        Delivery.objects.filter(pk=second.pk).update(
            next_attempt_at=timezone.now() - timedelta(hours=1)
        )
        receiver.fail_first, receiver.fail_status = 2, 410
        dispatch_until(recorded(2), dispatcher=b)
    finally:
        a.close()
        b.close()
        receiver.stop()

    assert list(DeliveryAttempt.objects.order_by("id").values_list("status_code", flat=True)) == [
        204,
        410,
    ]
    endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (endpoint.is_active, endpoint.disabled_reason) == (
        False,
        "The endpoint answered 410 Gone: it wants no more events. Turn it on again to send "
        "it new ones.",
    )


@pytest.mark.parametrize("fast_by", [timedelta(minutes=10), timedelta(minutes=-10)])
def test_a_database_clock_far_from_the_worker_s_is_a_warning(caplog, fast_by):
    """The worker's stamps follow the database's clock, the web's follow their machines':
    a database clock minutes off held back every new event's delivery that long (or sent
    retries early), and nothing said so."""
    dispatcher = worker(fast_by=fast_by)
    try:
        dispatcher.dispatch()
    finally:
        dispatcher.close()

    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    assert "clock" in warned[0]


def test_a_database_clock_that_agrees_is_no_warning(caplog):
    dispatcher = worker(fast_by=timedelta(0))
    try:
        dispatcher.dispatch()
    finally:
        dispatcher.close()

    assert not [r for r in caplog.records if r.levelno >= 30]
