"""The delivery attempts' list in the admin reads along an index, however staff sort it: the
table gains a row for every attempt to every endpoint and is the biggest of the webhooks'.
Newest first was a sort of the whole table on every load (no index on created_at), and each
other column's sort (the attempt number, status, duration, error, or the delivery, which
sorted by its hidden id) another."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from common.tests.plans import plan_nodes
from events import services
from events.admin import DeliveryAttemptAdmin
from events.models import Delivery, DeliveryAttempt

pytestmark = pytest.mark.django_db

TABLE = "events_deliveryattempt"


def whole_reads(sql: str, table: str = TABLE) -> list[str]:
    """The plan's reads of `table` without a condition: a sequential scan, or a sort of
    them."""
    found = []
    for node in plan_nodes(sql):
        if node["Node Type"] == "Sort":
            found.append(f"{node['Node Type']} by {node.get('Sort Key')}")
        elif node.get("Relation Name") == table and node["Node Type"] == "Seq Scan":
            found.append("Seq Scan")
    return found


@pytest.fixture
def attempts(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    services.endpoint_create(url="https://hooks.example.com/in", event_types=["ping"])
    with transaction.atomic():
        services.events_emit([services.Notice(type="ping", data={})])
    delivery = Delivery.objects.get()
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(delivery=delivery, attempt=n, status_code=500, duration_ms=n)
        for n in range(1, 4)
    )


COLUMNS = range(len(DeliveryAttemptAdmin.list_display))
ORDERS = [{}] + [{"o": f"{sign}{column}"} for column in COLUMNS for sign in ("", "-")]


@pytest.mark.parametrize("query", ORDERS, ids=lambda query: query.get("o", "newest-first"))
def test_the_attempts_list_reads_no_whole_table_however_it_is_sorted(admin_client, attempts, query):
    if connection.vendor != "postgresql":
        pytest.skip("it reads PostgreSQL's EXPLAIN; SQLite's planner and plan output differ")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:events_deliveryattempt_changelist"), query)
    reads = [q["sql"] for q in queries.captured_queries if f'FROM "{TABLE}"' in q["sql"]]

    assert response.status_code == 200
    assert reads
    assert {sql: whole_reads(sql) for sql in reads} == {sql: [] for sql in reads}
    assert len(response.context["cl"].result_list) == 3


@pytest.mark.sqlite
def test_the_attempts_list_is_newest_first(admin_client, attempts):
    response = admin_client.get(reverse("admin:events_deliveryattempt_changelist"))

    assert response.status_code == 200
    shown = [row.attempt for row in response.context["cl"].result_list]
    assert shown == [3, 2, 1]


@pytest.mark.sqlite
@pytest.mark.parametrize(("answer", "shown"), [("5xx", 3), ("2xx", 0), ("none", 0), ("x", 3)])
def test_the_attempts_are_filtered_by_the_class_of_the_receivers_answer(
    admin_client, attempts, answer, shown
):
    url = reverse("admin:events_deliveryattempt_changelist")

    response = admin_client.get(url, {"answer": answer})

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == shown
