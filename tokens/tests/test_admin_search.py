"""The tokens' admin lists on a big table: a search for a customer's email address is answered
through indexes, never by reading every row of the ledger, the lots, the usage or the holds."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from tokens.ledger import Work
from tokens.models import Hold, TokenAccount, TokenLot, TokenTransaction, UsageRecord
from tokens.services import hold_create, usage_record
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db

MODELS = [TokenAccount, TokenTransaction, TokenLot, UsageRecord, Hold]
TABLES = {model._meta.db_table for model in MODELS} | {"accounts_user"}


def full_scans(sql: str) -> list[str]:
    """The tables the plan of `sql` reads whole: a sequential scan, or an index walked
    without a condition on it. Sequential scans are priced out, so that the planner, on the
    test's few rows, takes an index wherever one can serve the query."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        relation = node.get("Relation Name") or node.get("Index Name", "")
        if node["Node Type"] == "Seq Scan" or (
            node["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
            and "Index Cond" not in node
        ):
            found.append(relation)
    return found


@pytest.fixture
def customers():
    """Three customers with a row of every kind each, the one searched for among them."""
    users = [UserFactory() for _ in range(3)]
    for user in users:
        fund(user, 10)
        key = str(uuid.uuid4())
        usage_record(user_id=user.pk, work=Work(amount=1, usage_key=key, entry_key=key))
        hold_create(user_id=user.pk, amount=1, idempotency_key=key)
    return users


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.model_name)
def test_a_search_by_email_reads_that_customers_rows_through_indexes(
    staff_browser, customers, model
):
    customer = customers[1]
    url = reverse(f"admin:tokens_{model._meta.model_name}_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = staff_browser.get(url, {"q": customer.email.upper()})

    shown = response.context["cl"].result_list
    assert response.status_code == 200
    assert len(shown) >= 1
    assert {row.user if model is TokenAccount else row.account.user for row in shown} == {customer}
    reads = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and f'"{model._meta.db_table}"' in query["sql"]
    ]
    assert reads
    assert {sql[:60]: full_scans(sql) for sql in reads} == {sql[:60]: [] for sql in reads}


def test_part_of_an_address_is_still_searched_for_in_every_address(staff_browser, customers):
    customer = customers[1]
    url = reverse("admin:tokens_tokentransaction_changelist")

    response = staff_browser.get(url, {"q": customer.email.split("@")[0]})

    assert {row.account.user for row in response.context["cl"].result_list} == {customer}


def whole_table_work(sql: str) -> list[str]:
    """What the plan of `sql` does with a whole table: reads it (a sequential scan, priced
    out as in `full_scans`) or sorts or aggregates rows before any limit. An index walked in
    order under a LIMIT is not one: it stops after the page."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node["Node Type"] in {"Seq Scan", "Sort", "Aggregate", "Unique", "HashAggregate"}:
            found.append(f"{node['Node Type']} {node.get('Relation Name', '')}".strip())
    return found


@pytest.mark.parametrize("model", [TokenTransaction, UsageRecord], ids=["entries", "usage"])
def test_the_newest_page_of_a_growing_list_is_read_along_an_index(staff_browser, customers, model):
    """The ledger's and usage's lists are newest first across every account: without an index
    on the time, each load sorted the whole table (1,000,000 entries: 3.5 s for the page's
    rows; 990,000 usage records: 2.0 s), and the date hierarchy sorted it again for its years
    (1.4 s). Only the paginator's count reads it whole."""
    table = model._meta.db_table
    url = reverse(f"admin:tokens_{model._meta.model_name}_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = staff_browser.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == model.objects.count()
    reads = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT")
        and f'"{table}"' in query["sql"]
        and not query["sql"].startswith('SELECT COUNT(*) AS "__count"')
    ]
    assert reads
    assert {sql[:60]: whole_table_work(sql) for sql in reads} == {sql[:60]: [] for sql in reads}


def test_the_account_list_sorts_the_accounts_alone_then_reads_their_users(
    staff_browser, customers, django_assert_max_num_queries
):
    """Newest first, the page's accounts were joined to their users before the sort, so each
    load joined every account to its user (500,000 accounts: 1.5-2.2 s a page, against about
    0.2 s to sort the accounts alone). The users are read by key, for the page's accounts."""
    url = reverse("admin:tokens_tokenaccount_changelist")

    with django_assert_max_num_queries(8), CaptureQueriesContext(connection) as queries:
        response = staff_browser.get(url)

    assert response.status_code == 200
    assert {account.user for account in response.context["cl"].result_list} == set(customers)
    assert all(customer.email in response.content.decode() for customer in customers)
    pages = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT")
        and 'FROM "tokens_tokenaccount"' in query["sql"]
        and "ORDER BY" in query["sql"]
    ]
    assert [('"accounts_user"' in sql) for sql in pages] == [False]
