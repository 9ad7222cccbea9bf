"""The minute's sweep of expired lots reads the lots whose end has passed, not every live lot:
it EXPLAINs the statements the sweep sent (PostgreSQL's planner; its plan text is
PostgreSQL's)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tokens.services import lots_expire

pytestmark = pytest.mark.django_db

SPENT = 50_000
LIVE = 10_000
DUE = 7


def _lots() -> None:
    """Lots as a service that has run a while has them: most spent or booked expired (nothing
    left, their end past), some live whose end is ahead, DUE whose end has just passed, over
    20,000 accounts. Written with the database's rules off (inside the test's transaction):
    the dry run reads lots only, so their accounts and ledger entries need not exist."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "INSERT INTO tokens_tokenlot (id, category, amount, remaining, expires_at, priority, "
            "source_type, source_id, created_at, account_id, credit_id) "
            "SELECT gen_random_uuid(), 'paid', 100, CASE WHEN g <= %s THEN 50 ELSE 0 END, "
            "CASE WHEN g <= %s THEN now() - interval '1 minute' "
            "WHEN g <= %s THEN now() + g * interval '1 minute' "
            "ELSE now() - g * interval '1 minute' END, 50, 'test', g::text, "
            "now() - interval '1 year', md5((g %% 20000)::text)::uuid, gen_random_uuid() "
            "FROM generate_series(1, %s) g",
            [LIVE + DUE, DUE, LIVE + DUE, SPENT + LIVE + DUE],
        )
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        cursor.execute("ANALYZE tokens_tokenlot")


def test_the_minutes_lot_sweep_reads_the_ended_lots_not_every_live_one():
    """Each minute it read pages of `ORDER BY account_id LIMIT 500` of accounts with due lots:
    most ended lots are spent, so PostgreSQL, taking "holds tokens" and "ended" as unrelated,
    expected thousands where there are a few, and walked every live lot in account order
    (200,000 lots, 20,000 live: 19,993 rows read and dropped for 7)."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ")
    _lots()

    with CaptureQueriesContext(connection) as queries:
        sweep = lots_expire(dry_run=True)

    assert sweep.lots == DUE
    looks = [q["sql"] for q in queries if q["sql"].startswith('SELECT DISTINCT "tokens_tokenlot"')]
    assert looks
    for look in looks:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {look}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "tokens_lot_live" not in plan, plan
        assert "tokens_lot_expiring" in plan, plan
