"""The expiry sweeps' backlog in /metrics: a sweep that stops booking expired lots or
releasing expired holds (the worker stopped, or the sweep succeeds without doing its work)
shows as work left undone, which the sweeps' own counts, kept in the worker's process,
never could."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from accounts.tests.factories import UserFactory
from tokens.selectors import expiry_overdue
from tokens.services import holds_expire, lots_expire
from tokens.services.holds import hold_create
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOT_EXPIRES = T0 + timedelta(hours=1)
HOLD_EXPIRES = T0 + timedelta(minutes=1)


def overdue_in_metrics() -> dict[tuple[str, str], float]:
    text = Client().get("/metrics").content.decode()
    return {
        (sample.name, sample.labels["sweep"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("token_sweep_")
    }


@pytest.fixture
def lot_and_hold():
    """A lot expiring at LOT_EXPIRES with tokens in it, a hold expiring at HOLD_EXPIRES."""
    user = UserFactory()
    with time_machine.travel(T0, tick=False):
        fund(user, 5)
        grant(user, 10, expires_at=LOT_EXPIRES)
        hold_create(user_id=user.pk, amount=3, ttl_seconds=60)
    return user


def test_nothing_is_overdue_before_anything_expires(lot_and_hold):
    with time_machine.travel(T0, tick=False):
        seen = overdue_in_metrics()

    assert seen == {
        ("token_sweep_overdue", "expire_lots"): 0,
        ("token_sweep_overdue", "expire_holds"): 0,
    }


def test_what_the_sweeps_have_not_done_shows_with_when_it_expired(lot_and_hold):
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        seen = overdue_in_metrics()

    assert seen == {
        ("token_sweep_overdue", "expire_lots"): 1,
        ("token_sweep_overdue", "expire_holds"): 1,
        ("token_sweep_oldest_overdue_timestamp_seconds", "expire_lots"): LOT_EXPIRES.timestamp(),
        ("token_sweep_oldest_overdue_timestamp_seconds", "expire_holds"): HOLD_EXPIRES.timestamp(),
    }


def test_once_the_sweeps_ran_nothing_is_overdue(lot_and_hold):
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        lots_expire()
        holds_expire()
        seen = overdue_in_metrics()

    assert seen == {
        ("token_sweep_overdue", "expire_lots"): 0,
        ("token_sweep_overdue", "expire_holds"): 0,
    }


def plan_indexes(sql: str, params: list) -> set[str]:
    """The indexes the plan reads, sequential scans priced out so the planner takes an index
    wherever one can serve, on the test's few rows; a sequential scan left (no index could
    serve the query) is named too."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found, nodes = set(), [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node["Node Type"] == "Seq Scan":
            found.add(f"seq scan of {node['Relation Name']}")
        elif "Index Name" in node:
            found.add(node["Index Name"])
    return found


def test_a_scrape_reads_the_backlog_along_the_partial_indexes(
    lot_and_hold, django_assert_num_queries
):
    """Two statements, each over a partial index of live lots or active holds, so a scrape
    costs what is left to do, not the size of the ledger's tables."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's EXPLAIN")
    with django_assert_num_queries(2) as queries:
        expiry_overdue(now=T0 + timedelta(hours=2))
    lots_sql, holds_sql = (query["sql"] for query in queries.captured_queries)

    # On the test's few rows the planner may take either partial index of live lots; on
    # 300,000 lots it takes the expiring one, reading only the overdue rows (0.06 ms).
    assert plan_indexes(lots_sql, []) <= {"tokens_lot_expiring", "tokens_lot_live"}
    assert plan_indexes(holds_sql, []) == {"tokens_hold_account_active"}
