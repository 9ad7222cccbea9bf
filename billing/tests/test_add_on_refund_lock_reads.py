"""The refund's lock of the add-on rows it writes (`renewals.add_on_periods_lock`) reads
them through indexes: one of its three arms, the add-ons paid alone relying on the refunded
subscriptions, named no column an index serves (a hashed subquery only), so PostgreSQL
could not combine indexes for the OR and read the whole add-on table, every refund, while
holding the invoice's and its subscriptions' rows."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from billing.models import AddOnSubscription
from billing.services import invoice_refund
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OTHERS = 20_000
TABLE = "billing_addonsubscription"


def _others_add_ons(count: int) -> None:
    """`count` add-on periods of another customer (copies of one of theirs), and fresh
    statistics, so the planner plans as on a table of many customers."""
    other = UserFactory()
    with time_machine.travel(START, tick=False):
        invoice = checkout(other, plan=PlanFactory(), add_ons=[AddOnFactory()]).invoice
        capture(invoice, reference="other")
    row = AddOnSubscription.objects.get(invoice=invoice)
    columns = [f.column for f in AddOnSubscription._meta.concrete_fields if f.column != "id"]
    listed = ", ".join(columns)
    with connection.cursor() as cursor:
        # The model's own column names, no input.
        copy = f"INSERT INTO {TABLE} (id, {listed}) SELECT gen_random_uuid(), {listed} "
        cursor.execute(f"{copy}FROM {TABLE}, generate_series(1, %s) WHERE id = %s", [count, row.pk])
        cursor.execute(f"ANALYZE {TABLE}")


def test_the_refunds_add_on_lock_reads_no_whole_table(user):
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ")
    _others_add_ons(OTHERS)
    add_on = AddOnFactory()
    with time_machine.travel(START, tick=False):
        invoice = checkout(user, plan=PlanFactory(), add_ons=[add_on]).invoice
        capture(invoice, reference="mine")
    at = START + timedelta(days=3)
    with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as queries:
        invoice_refund(invoice_id=invoice.pk)

    locks = [
        q["sql"]
        for q in queries
        if f'FROM "{TABLE}"' in q["sql"] and "FOR NO KEY UPDATE" in q["sql"]
    ]
    assert locks
    for lock in locks:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {lock}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert f"Seq Scan on {TABLE} " not in plan.replace(f"{TABLE}\n", f"{TABLE} \n"), plan
        assert "billing_addonsubscription_pkey" not in plan, plan
