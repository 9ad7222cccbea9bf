"""A 2xx heard at the URL an endpoint had before staff changed it is the old receiver's word,
not the new one's: it delivers its delivery, but says nothing of the endpoint's health. It
cleared the failures counted at the new URL since the change, and, sent after an attempt to
the new URL, outweighed that attempt's 410 or `Retry-After` as "the receiver's newer word"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from events import services
from events.dispatch.recording import deliveries_record
from events.dispatch.sending import Outcome
from events.models import Delivery, WebhookEndpoint

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OLD, NEW = "http://127.0.0.1:9/old", "http://127.0.0.1:9/new"


@pytest.fixture
def moved(settings) -> tuple[WebhookEndpoint, Delivery, Delivery]:
    """An endpoint with two pings, whose URL staff changed from OLD to NEW: the first ping
    was on its way to OLD meanwhile, the second goes to NEW."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint = services.endpoint_create(url=OLD, event_types=["ping"])
    for _ in range(2):
        services.endpoint_ping(endpoint_id=endpoint.pk)
    services.endpoint_update(endpoint_id=endpoint.pk, url=NEW)
    to_old, to_new = Delivery.objects.filter(endpoint=endpoint).order_by("pk")
    return endpoint, to_old, to_new


def answered(status: int, *, url: str, sent_at: datetime, **rest) -> Outcome:
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return Outcome(status, 5, error, url=url, sent_at=sent_at, **rest)


@pytest.mark.parametrize(
    "answer",
    [
        answered(410, url=NEW, sent_at=T + timedelta(seconds=1)),
        answered(429, url=NEW, sent_at=T + timedelta(seconds=1), retry_after=timedelta(minutes=10)),
    ],
    ids=["gone", "retry-after"],
)
@pytest.mark.parametrize("together", [False, True], ids=["old-2xx-first", "same-batch"])
def test_a_2xx_at_the_old_url_does_not_outweigh_the_new_url_s_410_or_retry_after(
    moved, answer, together
):
    endpoint, to_old, to_new = moved
    old_2xx = answered(204, url=OLD, sent_at=T + timedelta(seconds=2))
    if together:
        deliveries_record([(to_old.pk, old_2xx), (to_new.pk, answer)], now=T + timedelta(seconds=4))
    else:
        deliveries_record([(to_old.pk, old_2xx)], now=T + timedelta(seconds=3))
        deliveries_record([(to_new.pk, answer)], now=T + timedelta(seconds=4))

    endpoint.refresh_from_db()
    if answer.status_code == 410:
        assert (endpoint.is_active, endpoint.disabled_at) == (False, T + timedelta(seconds=4))
    else:
        assert endpoint.paused_until == T + timedelta(seconds=4, minutes=10)
    assert endpoint.delivered_sent_at is None
    assert Delivery.objects.get(pk=to_old.pk).status == Delivery.Status.SUCCEEDED


def test_a_2xx_at_the_old_url_does_not_clear_the_new_url_s_failures(moved):
    endpoint, to_old, to_new = moved
    deliveries_record(
        [(to_new.pk, answered(500, url=NEW, sent_at=T + timedelta(seconds=1)))],
        now=T + timedelta(seconds=2),
    )

    deliveries_record(
        [(to_old.pk, answered(204, url=OLD, sent_at=T))], now=T + timedelta(seconds=3)
    )

    endpoint.refresh_from_db()
    assert (endpoint.failing_since, endpoint.failed_attempts) == (T + timedelta(seconds=2), 1)
    assert Delivery.objects.get(pk=to_old.pk).status == Delivery.Status.SUCCEEDED


def test_a_2xx_at_the_endpoint_s_url_still_clears_its_failures(moved):
    """The counterpart: the new URL's own 2xx is the receiver's word."""
    endpoint, _, to_new = moved
    deliveries_record(
        [(to_new.pk, answered(500, url=NEW, sent_at=T + timedelta(seconds=1)))],
        now=T + timedelta(seconds=2),
    )
    deliveries_record(
        [(to_new.pk, answered(204, url=NEW, sent_at=T + timedelta(seconds=3)))],
        now=T + timedelta(seconds=4),
    )

    endpoint.refresh_from_db()
    assert (endpoint.failing_since, endpoint.failed_attempts) == (None, 0)
    assert endpoint.delivered_sent_at == T + timedelta(seconds=3)
