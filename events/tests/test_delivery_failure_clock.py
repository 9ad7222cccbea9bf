"""Delivery: signed by the Standard Webhooks scheme, at least once, retried with backoff,
every attempt recorded, one hanging endpoint never holding up the others."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events import services
from events.dispatch import (
    BACKOFF,
    DISABLE_AFTER_FAILURES,
    Outcome,
    deliveries_claim,
    delivery_record,
)
from events.models import Delivery, Event, WebhookEndpoint
from events.tests.delivery_helpers import NOW

pytestmark = pytest.mark.django_db(transaction=True)


def many_failed_before(endpoint: WebhookEndpoint) -> None:
    """As though all but one of the attempts that turn an endpoint off had failed already
    (other deliveries', in between)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failed_attempts=DISABLE_AFTER_FAILURES - 1
    )


def test_an_endpoint_failing_for_5_days_is_turned_off():
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    first = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    waiting = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )

    delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW)
    many_failed_before(endpoint)
    delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW + timedelta(days=5))

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_at) == (False, NOW + timedelta(days=5))
    waiting.refresh_from_db()
    assert waiting.status == "failed"


def test_a_quiet_endpoint_is_not_turned_off_by_one_failure_a_week_after_the_last(loopback):
    """An endpoint sent an event a week: one given up after its whole schedule (9 attempts
    over two days), then the next event's first attempt failing (a deploy, a 503) a week
    later turned the endpoint off at once, that event given up after one attempt, as its
    failures then spanned 5 days. Turning off needs 5 days and DISABLE_AFTER_FAILURES
    failed attempts in a row."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    lost = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    at = NOW
    for wait in [*BACKOFF, None]:
        delivery_record(lost.pk, Outcome(503, 5, "HTTP 503"), now=at)
        at += wait or timedelta(0)
    next_week = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )

    delivery_record(next_week.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=7))

    endpoint.refresh_from_db()
    next_week.refresh_from_db()
    assert (endpoint.is_active, next_week.status) == (True, "pending")
    # Still failing once enough attempts in a row have failed, it is turned off.
    more = [
        Delivery.objects.create(event=Event.objects.create(type="ping", data={}), endpoint=endpoint)
        for _ in range(DISABLE_AFTER_FAILURES - len(BACKOFF) - 3)
    ]
    for delivery in more:
        delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=7))
    endpoint.refresh_from_db()
    assert endpoint.is_active
    delivery_record(next_week.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=8))
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_at) == (False, NOW + timedelta(days=8))


def test_an_endpoint_turned_off_for_failing_is_logged_for_the_operator(caplog):
    """Turned off after 5 days of failures, the endpoint said so only in its own row: no
    line reached the logs an operator watches, so a seller's integration stopped getting
    events and nobody was told until someone opened the endpoint. One warning, with its id
    (never its URL, which may carry a token) and what was given up, once it is committed."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    first, _waiting = (
        Delivery.objects.create(event=Event.objects.create(type="ping", data={}), endpoint=endpoint)
        for _ in range(2)
    )

    with caplog.at_level("WARNING", logger="events.dispatch.recording"):
        delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW)
        delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW + timedelta(days=1))
        assert caplog.records == []
        many_failed_before(endpoint)
        delivery_record(first.pk, Outcome(None, 10000, "Timeout"), now=NOW + timedelta(days=5))

    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "WARNING",
            f"Webhook endpoint {endpoint.pk} turned off: every delivery failed for 5 days; "
            "2 pending deliveries given up. Turn it on again once it answers.",
        )
    ]


def test_a_success_clears_the_failure_clock():
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    delivery = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )

    delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=NOW)
    delivery_record(delivery.pk, Outcome(200, 5), now=NOW + timedelta(days=4))

    endpoint.refresh_from_db()
    assert (endpoint.failing_since, endpoint.is_active) == (None, True)


def test_a_new_url_starts_the_failure_clock_afresh(loopback):
    """Days of failures at a wrong URL, then the URL fixed: the first failure at the new
    one (a deploy, a 503) turned the endpoint off at once, its pending deliveries given up."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    delivery = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    delivery_record(delivery.pk, Outcome(None, 10000, "Timeout"), now=NOW)

    services.endpoint_update(endpoint_id=endpoint.pk, url="http://127.0.0.1:10/")
    delivery_record(delivery.pk, Outcome(503, 5, "HTTP 503"), now=NOW + timedelta(days=5))

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.failing_since, endpoint.failed_attempts) == (
        True,
        NOW + timedelta(days=5),
        1,
    )
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_the_same_url_sent_again_keeps_the_failure_clock(loopback):
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    delivery = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    delivery_record(delivery.pk, Outcome(None, 10000, "Timeout"), now=NOW)

    services.endpoint_update(endpoint_id=endpoint.pk, url="http://127.0.0.1:9/", description="x")

    endpoint.refresh_from_db()
    assert endpoint.failing_since == NOW


def test_the_worker_never_claims_a_delivery_of_a_turned_off_endpoint():
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)
    # A test event may be queued for an endpoint that is off; it waits until it is on again.
    services.endpoint_ping(endpoint_id=endpoint.pk)

    while_off = deliveries_claim(limit=10, room={}, now=timezone.now(), per_endpoint=2)
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)
    once_on = deliveries_claim(limit=10, room={}, now=timezone.now(), per_endpoint=2)

    assert while_off == []
    assert [delivery.event.type for delivery in once_on] == ["ping"]


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome(status_code=204, duration_ms=8), "succeeded"),
        (Outcome(status_code=503, duration_ms=8, error="HTTP 503"), "failed"),
    ],
    ids=["arrived", "refused"],
)
def test_an_attempt_on_its_way_when_its_endpoint_is_turned_off_is_logged(outcome, status):
    """Turning the endpoint off gave the delivery up while the attempt was being sent; the
    attempt's outcome was then dropped, so the log hid a request the endpoint received."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", event_types="|ping|")
    services.endpoint_ping(endpoint_id=endpoint.pk)
    (on_its_way,) = deliveries_claim(limit=10, room={}, now=timezone.now(), per_endpoint=2)
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)

    delivery_record(on_its_way.pk, outcome, now=NOW)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (status, 1)
    assert list(delivery.attempt_log.values_list("attempt", "status_code")) == [
        (1, outcome.status_code)
    ]
    assert WebhookEndpoint.objects.get().failing_since is None
