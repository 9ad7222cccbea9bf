"""`common.db.inserted`: checkout's lean INSERTs write what `bulk_create` would, all of it or
nothing, and refuse models whose rows they could not write faithfully."""

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Currency
from common.db import inserted
from common.models import IdempotencyRecord

pytestmark = [pytest.mark.sqlite]


def currencies(*codes: str) -> list[Currency]:
    return [Currency(code=code, symbol=code[0]) for code in codes]


@pytest.fixture
def batches_of_two(monkeypatch):
    """The backend's limit made small: on SQLite five rows take three statements."""
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 2)


def insert_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "catalog_currency"')]


@pytest.mark.django_db
def test_rows_past_the_backends_limit_are_written_in_batches(batches_of_two):
    rows = currencies("AAA", "AAB", "AAC", "AAD", "AAE")

    with CaptureQueriesContext(connection) as queries:
        written = inserted(rows)

    # PostgreSQL has no such limit, and writes any number of rows in one statement.
    assert len(insert_statements(queries)) == (1 if connection.vendor == "postgresql" else 3)
    assert [row.pk for row in written] == [row.pk for row in rows]
    assert not any(row._state.adding for row in written)
    stored = Currency.objects.filter(code__startswith="AA").order_by("code")
    assert [(c.pk, c.code, c.decimal_places) for c in stored] == [
        (row.pk, row.code, 2) for row in rows
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failing_last_batch_leaves_none_of_the_earlier_ones(batches_of_two):
    rows = currencies("AAA", "AAB", "AAC", "AAD", "AAA")

    with pytest.raises(IntegrityError):
        inserted(rows)

    assert not Currency.objects.filter(code__startswith="AA").exists()


@pytest.mark.django_db
def test_a_model_whose_key_the_database_makes_is_refused():
    record = IdempotencyRecord(
        key="k", request_fingerprint="f", response_status=201, response_body={}
    )

    with pytest.raises(ValueError, match="cannot read back id"):
        inserted([record])

    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_an_instance_without_its_key_is_refused():
    rows = currencies("AAA", "AAB")
    rows[1].pk = None

    with pytest.raises(ValueError, match="keys set"):
        inserted(rows)

    assert not Currency.objects.filter(code__startswith="AA").exists()


@pytest.mark.django_db
def test_on_postgresql_many_rows_are_one_statement_of_the_same_text_as_two():
    """A large cart's rows were a statement of their own for each number of rows, with 14
    parameters a row: psycopg parsed it again on every request past 50 parameters."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes rows in batches of VALUES")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    many = currencies(*(f"Q{first}{second}" for first in letters[:3] for second in letters))

    sent = []

    def kept(execute, sql, params, many, context):
        sent.append((sql, len(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(kept):
        inserted(currencies("PAA", "PAB"))
        inserted(many)

    assert sent[0] == sent[1]
    # psycopg keeps the parse of a statement of at most 50 parameters.
    assert sent[1][1] <= 50
    assert Currency.objects.filter(code__startswith="Q").count() == len(many) == 78
