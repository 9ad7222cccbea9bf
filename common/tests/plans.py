"""PostgreSQL's plan of a query as it would be on a big table, for tests that hold an admin
list to its indexes."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db import connection, transaction


def plan_nodes(sql: str) -> Iterator[dict]:
    """Every node of `sql`'s plan. Sequential scans, sorts and whole-table joins are priced
    out, so that the planner, on a test's few rows, plans as on many: it walks an index
    wherever one can serve the query and its order, and reads the table whole only where
    none can."""
    with transaction.atomic(), connection.cursor() as cursor:
        for plan_type in ("seqscan", "sort", "hashjoin", "mergejoin"):
            cursor.execute(f"SET LOCAL enable_{plan_type} = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        yield node
