"""A new event's delivery is due by the database's clock, the one the worker reads
(events.dispatch.Dispatcher.now): stamped by the web server's own clock, a web server running
10 minutes fast held every event it emitted back 10 minutes, and sent them after events
emitted later by other servers. PostgreSQL only: SQLite's database is a file on the web's
own machine, whose clock is the database's (events.dispatch.database_offset)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from events import services
from events.dispatch.claiming import deliveries_claim
from events.models import Delivery

pytestmark = pytest.mark.django_db


def database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (now,) = cursor.fetchone()
    return now


def emitted_by_a_web_server(n: int, *, off_by: timedelta) -> None:
    """An event emitted by a web server whose clock is `off_by` from the database's."""
    with time_machine.travel(timezone.now() + off_by, tick=True), transaction.atomic():
        services.events_emit([services.Notice("ping", {"n": n})])


@pytest.mark.parametrize("off_by", [timedelta(minutes=10), timedelta(minutes=-10)])
def test_a_new_event_is_due_when_emitted_by_the_database_s_clock(loopback, off_by):
    services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    before = database_now()

    emitted_by_a_web_server(1, off_by=off_by)

    after = database_now()
    (delivery,) = Delivery.objects.all()
    assert before <= delivery.next_attempt_at <= after
    claimed = deliveries_claim(limit=10, room={}, now=after, per_endpoint=10)
    assert [claim.pk for claim in claimed] == [delivery.pk]


def test_events_from_web_servers_whose_clocks_disagree_go_in_the_order_emitted(loopback):
    """The worker takes an endpoint's due deliveries oldest due first."""
    services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])

    emitted_by_a_web_server(1, off_by=timedelta(minutes=10))
    emitted_by_a_web_server(2, off_by=timedelta(minutes=-10))
    emitted_by_a_web_server(3, off_by=timedelta(0))

    due = deliveries_claim(limit=10, room={}, now=database_now(), per_endpoint=10)
    assert len(due) == 3
    in_claim_order = Delivery.objects.order_by("next_attempt_at", "id")
    assert [delivery.event.data["n"] for delivery in in_claim_order] == [1, 2, 3]


def test_emitting_takes_the_database_s_clock_in_its_one_statement(
    loopback, django_assert_max_num_queries
):
    """No round trip for the clock: the hot paths that emit (a debit crossing its alert
    threshold, a capture) keep their query budgets."""
    for n in range(3):
        services.endpoint_create(url=f"http://127.0.0.1:9/hooks{n}", event_types=["ping"])

    with transaction.atomic(), django_assert_max_num_queries(1):
        services.events_emit([services.Notice("ping", {"n": n}) for n in range(5)])

    assert Delivery.objects.count() == 15
