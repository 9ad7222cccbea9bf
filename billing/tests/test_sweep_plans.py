"""The periodic reads of billing's sweeps take an index, not the whole table: each EXPLAINs
the statements the sweep sent (PostgreSQL's planner; its plan text is PostgreSQL's)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import ItemStatus, Subscription
from billing.services.reconcile import ended_subscriptions_expire

pytestmark = pytest.mark.django_db

ENDED = 60_000
RUNNING = 3_000
DUE = 5


def plans_of(queries: list[dict], marker: str) -> list[str]:
    """The plans of the captured statements whose SQL holds `marker`."""
    plans = []
    for query in queries:
        if marker in query["sql"]:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans, f"no statement with {marker}"
    return plans


def _periods(like: Subscription) -> None:
    """Periods as a service that has run a while has them: most ended long ago (expired, their
    end past), some running, DUE ending now. Copies of `like` (its invoice, plan, user)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_subscription (id, plan_name, billing_period, price, status, "
            "starts_at, expires_at, created_at, updated_at, invoice_id, plan_id, user_id, "
            "included_tokens, usage_mode) "
            "SELECT gen_random_uuid(), plan_name, billing_period, price, "
            "CASE WHEN g <= %s THEN 'active' ELSE 'expired' END, starts_at - interval '1 year', "
            "CASE WHEN g <= %s THEN now() - interval '1 minute' "
            "WHEN g <= %s THEN now() + g * interval '1 minute' "
            "ELSE now() - g * interval '1 minute' END, created_at, updated_at, invoice_id, "
            "plan_id, user_id, included_tokens, usage_mode "
            "FROM billing_subscription, generate_series(1, %s) g WHERE id = %s",
            [RUNNING + DUE, DUE, RUNNING + DUE, ENDED + RUNNING + DUE, like.pk],
        )
        cursor.execute("ANALYZE billing_subscription")


def test_the_minutes_expiry_sweep_reads_the_active_periods_by_their_end(paid):
    """Each minute it read pages of ORDER BY id LIMIT 500 of active periods whose end has
    passed: with most periods ended (their end past, expired), PostgreSQL took "active" and
    "ended" as unrelated, expected thousands where there are a few, and walked the primary key
    through the whole table (150,000 periods: 150,295 rows read and dropped for 5)."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ")
    _periods(paid.invoice.subscriptions.get())

    with CaptureQueriesContext(connection) as queries:
        expired = ended_subscriptions_expire()

    assert expired == DUE
    assert Subscription.objects.filter(status=ItemStatus.EXPIRED).count() == ENDED + DUE
    pages = 'FROM "billing_subscription" WHERE ("billing_subscription"."expires_at" <='
    for plan in plans_of(queries, pages):
        assert "billing_subscription_pkey" not in plan, plan
        assert "billing_plan_active_end" in plan, plan
