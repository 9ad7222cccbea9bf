"""Staff's pings, resends, fixes and lifted pauses are due by the database's clock, the one
the worker reads (events.dispatch.Dispatcher.now): stamped by the web server's own clock, a
web server running 10 minutes fast sent a test ping or resend 10 minutes late, "Send now"
10 minutes later, and refused to lift a pause the worker still honoured as "not paused".
PostgreSQL only: SQLite's database is a file on the web's own machine, whose clock is the
database's (events.dispatch.database_offset)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from common.errors import InvalidState
from events import services
from events.dispatch.claiming import deliveries_claim
from events.models import Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

OFF_BY = [timedelta(minutes=10), timedelta(minutes=-10)]
# Queries each took by the web server's clock, before the database's.
PING_QUERIES, RESEND_QUERIES, LIFT_QUERIES = 5, 5, 5


def database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (now,) = cursor.fetchone()
    return now


def by_a_web_server(off_by: timedelta):
    """The web server's clock `off_by` from the database's."""
    return time_machine.travel(timezone.now() + off_by, tick=True)


def due_by_the_database_s_clock(act) -> list[int]:
    """`act()`'s deliveries' due times lie between the database's clock before and after it;
    the ids the worker claims by the database's clock after it."""
    before = database_now()
    act()
    after = database_now()
    for due in Delivery.objects.filter(status="pending").values_list("next_attempt_at", flat=True):
        assert before <= due <= after
    return [d.pk for d in deliveries_claim(limit=10, room={}, now=after, per_endpoint=10)]


@pytest.fixture
def endpoint(loopback) -> WebhookEndpoint:
    return services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])


@pytest.mark.parametrize("off_by", OFF_BY)
def test_a_test_ping_is_due_by_the_database_s_clock(endpoint, off_by):
    def ping() -> None:
        with by_a_web_server(off_by):
            services.endpoint_ping(endpoint_id=endpoint.pk)

    claimed = due_by_the_database_s_clock(ping)

    assert claimed == [Delivery.objects.get().pk]


@pytest.mark.parametrize("off_by", OFF_BY)
def test_a_resent_event_is_due_by_the_database_s_clock(endpoint, off_by):
    event = services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.update(status="delivered", next_attempt_at=database_now())

    def resend() -> None:
        with by_a_web_server(off_by):
            assert services.event_resend(event_id=event.pk) == 1

    claimed = due_by_the_database_s_clock(resend)

    assert claimed == [Delivery.objects.get().pk]


@pytest.mark.parametrize("off_by", OFF_BY)
def test_an_endpoint_turned_on_again_gets_what_waited_by_the_database_s_clock(endpoint, off_by):
    services.endpoint_update(endpoint_id=endpoint.pk, is_active=False)
    services.endpoint_ping(endpoint_id=endpoint.pk)
    Delivery.objects.update(next_attempt_at=database_now() + timedelta(hours=1))

    def turn_on() -> None:
        with by_a_web_server(off_by):
            services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)

    claimed = due_by_the_database_s_clock(turn_on)

    assert claimed == [Delivery.objects.get().pk]


@pytest.mark.parametrize("off_by", OFF_BY)
@pytest.mark.parametrize("paused_for", [timedelta(minutes=5), timedelta(hours=1)])
def test_a_pause_the_worker_honours_is_lifted_and_its_deliveries_go_now(
    endpoint, off_by, paused_for
):
    """Paused for 5 minutes by the database's clock, a web server 10 minutes fast found the
    pause over and refused to lift it; paused for an hour, it lifted it and "Send now" sent
    the deliveries 10 minutes later."""
    services.endpoint_ping(endpoint_id=endpoint.pk)
    until = database_now() + paused_for
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_until=until)
    Delivery.objects.update(next_attempt_at=until)

    def lift() -> None:
        with by_a_web_server(off_by):
            assert services.endpoint_pause_lift(endpoint_id=endpoint.pk) == 1

    claimed = due_by_the_database_s_clock(lift)

    assert claimed == [Delivery.objects.get().pk]
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).paused_until is None


def test_a_pause_over_by_the_database_s_clock_is_not_lifted_by_a_slow_web_server(endpoint):
    """The worker no longer honours it: nothing to lift, and nothing changed."""
    until = database_now() - timedelta(minutes=5)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_until=until)

    with by_a_web_server(timedelta(minutes=-10)), pytest.raises(InvalidState, match="not paused"):
        services.endpoint_pause_lift(endpoint_id=endpoint.pk)

    assert WebhookEndpoint.objects.get(pk=endpoint.pk).paused_until == until


@pytest.mark.parametrize("off_by", OFF_BY)
def test_a_ping_to_a_paused_endpoint_waits_for_the_pause(endpoint, off_by):
    until = database_now() + timedelta(minutes=5)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_until=until)

    with by_a_web_server(off_by):
        services.endpoint_ping(endpoint_id=endpoint.pk)

    assert Delivery.objects.get().next_attempt_at == until


def test_the_database_s_clock_costs_no_query(endpoint, django_assert_num_queries):
    """Read in the statements that write the stamps: a ping, a resend and a lift take the
    queries they took by the web's clock."""
    until = database_now() + timedelta(hours=1)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_until=until)

    with django_assert_num_queries(PING_QUERIES):
        event = services.endpoint_ping(endpoint_id=endpoint.pk)
    with django_assert_num_queries(RESEND_QUERIES):
        services.event_resend(event_id=event.pk)
    with django_assert_num_queries(LIFT_QUERIES):
        services.endpoint_pause_lift(endpoint_id=endpoint.pk)
