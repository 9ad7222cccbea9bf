"""The daily purge's batches start where the last one ended, not at the oldest event: it
EXPLAINs the statements the purge sent (PostgreSQL's planner; its plan text is
PostgreSQL's)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.services import purge
from events.services.purge import events_purge

pytestmark = pytest.mark.django_db

OLD = 6_000
KEPT = 500


def _events() -> None:
    """OLD events past retention, a minute apart, each with a finished delivery but the KEPT
    oldest, whose delivery is still on its way (an endpoint down): those stay. Written with
    the database's rules off (inside the test's transaction): the endpoint need not exist."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "INSERT INTO events_event (id, type, data, created_at) SELECT gen_random_uuid(), "
            "'test', '{}', now() - interval '100 days' + g * interval '1 minute' "
            "FROM generate_series(1, %s) g",
            [OLD],
        )
        cursor.execute(
            "INSERT INTO events_delivery (status, attempts, next_attempt_at, last_error, "
            "completed_at, created_at, event_id, endpoint_id) "
            "SELECT CASE WHEN row_number() OVER (ORDER BY created_at) <= %s THEN 'pending' "
            "ELSE 'delivered' END, 1, now(), '', now(), created_at, id, gen_random_uuid() "
            "FROM events_event",
            [KEPT],
        )
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        cursor.execute("ANALYZE events_event")


def test_each_batch_of_the_purge_starts_after_the_last(monkeypatch):
    """The next batch was asked as `created_at > last OR (created_at = last AND id > last
    id)`, which PostgreSQL cannot seek an index to: each batch read events_event_created from
    the oldest event, past every event kept so far (2,000 kept on 200,000 events: 2,000 rows
    read and dropped by each of 155 batches)."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ")
    monkeypatch.setattr(purge, "PURGE_BATCH", 1_000)
    _events()

    with CaptureQueriesContext(connection) as queries:
        purged = events_purge(older_than=timezone.now() - timedelta(days=30))

    assert purged == OLD - KEPT
    pages = [q["sql"] for q in queries if q["sql"].startswith('SELECT "events_event"."created_at"')]
    assert len(pages) > 2
    for page in pages[1:]:
        with connection.cursor() as cursor:
            # Once purged, the table is small enough for a seq scan, which says nothing of
            # where the index can be entered; that is what is asked here.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {page}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        removed = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan)]
        assert max(removed, default=0) < KEPT, plan
