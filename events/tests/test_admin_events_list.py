"""The events' list in the admin reads along its indexes: every event is a row (30 days of
them, EVENT_RETENTION_DAYS), and the list's filters asked the whole table on each load for
the days that have events (the date hierarchy's DISTINCT over every row) and for the types
there are (a DISTINCT over every row's type), as the ledger's and the invoices' lists found."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from events import services
from events.tests.test_admin_attempts import whole_reads

pytestmark = pytest.mark.django_db

TABLE = "events_event"


@pytest.fixture
def events():
    with transaction.atomic():
        services.events_emit([services.Notice(type="ping", data={"n": n}) for n in range(3)])


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"type": "ping"},
        {
            "created_at__gte": "2026-03-01 00:00:00+00:00",
            "created_at__lt": "2026-04-01 00:00:00+00:00",
        },
    ],
    ids=["newest-first", "by-type", "date-range"],
)
def test_the_events_list_reads_no_whole_table(admin_client, events, query):
    if connection.vendor != "postgresql":
        pytest.skip("it reads PostgreSQL's EXPLAIN; SQLite's planner and plan output differ")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:events_event_changelist"), query)
    reads = [q["sql"] for q in queries.captured_queries if f'FROM "{TABLE}"' in q["sql"]]

    assert response.status_code == 200
    assert [sql for sql in reads if "DISTINCT" in sql] == []
    assert {sql: whole_reads(sql, TABLE) for sql in reads} == {sql: [] for sql in reads}


@pytest.mark.sqlite
@pytest.mark.parametrize(("kind", "shown"), [("ping", 3), ("invoice.paid", 0)])
def test_the_events_are_filtered_by_type(admin_client, events, kind, shown):
    response = admin_client.get(reverse("admin:events_event_changelist"), {"type": kind})

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == shown


@pytest.mark.sqlite
def test_a_bookmark_of_the_former_hierarchys_last_month_is_an_empty_list(admin_client, events):
    """December 9999 made the date hierarchy ask for the year after; as a plain filter it
    is a month like any other."""
    url = reverse("admin:events_event_changelist")

    response = admin_client.get(url, {"created_at__year": "9999", "created_at__month": "12"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
