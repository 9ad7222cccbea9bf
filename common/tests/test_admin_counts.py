"""The admin's lists of big tables are not counted row by row on every load: a whole table
of at least `EstimatedCountPaginator.ESTIMATE_FROM` rows takes PostgreSQL's estimate for its
pager, a filtered list and a small table their exact count. (What that saves is measured on
300,000 rows; here the threshold is lowered and the query's shape asserted.)"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from common.admin import EstimatedCountPaginator
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db

BIG_LISTS = ["tokens_tokentransaction", "billing_invoice", "events_deliveryattempt"]


@pytest.fixture
def ledger_of_three(admin_client):
    """Three entries, with the ledger's statistics as autovacuum would leave them."""
    for _ in range(3):
        fund(UserFactory(), 10)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tokens_tokentransaction, billing_invoice, events_deliveryattempt")
    return admin_client


def counts(admin_client, changelist: str, query: dict | None = None) -> tuple:
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(f"admin:{changelist}_changelist"), query or {})
    return response, [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]


@pytest.mark.parametrize("changelist", BIG_LISTS)
def test_a_big_tables_whole_list_is_not_counted(ledger_of_three, monkeypatch, changelist):
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 0)

    response, counted = counts(ledger_of_three, changelist)

    assert response.status_code == 200
    assert counted == []


def test_the_estimate_is_the_pagers_count(ledger_of_three, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 0)

    response, _ = counts(ledger_of_three, "tokens_tokentransaction")

    assert response.context["cl"].result_count == 3
    assert len(response.context["cl"].result_list) == 3


def test_a_filtered_list_is_counted_exactly_and_only_itself(ledger_of_three, monkeypatch):
    """Django's "(N total)" beside a filtered list would count the whole table again."""
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 0)

    response, counted = counts(ledger_of_three, "billing_invoice", {"status__exact": "paid"})

    assert response.status_code == 200
    assert len(counted) == 1
    assert "WHERE" in counted[0]


def test_a_small_table_is_counted_exactly(ledger_of_three):
    response, counted = counts(ledger_of_three, "tokens_tokentransaction")

    assert response.context["cl"].result_count == 3
    assert len(counted) == 1
