"""The CSV export of a long history under the production server (gunicorn, sync workers)."""

import csv
import io
import urllib.request

import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import UserFactory
from common.tests.servers import gunicorn, the_test_database

pytestmark = pytest.mark.django_db(transaction=True)

ENTRIES = 200_000
HISTORY = "/api/v1/user/tokens/transactions"


def long_history(user, entries: int) -> None:
    """`entries` ledger entries loaded in SQL: a credit, then usages of 1 token."""
    funds = 10 * entries
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO tokens_tokenaccount (id, user_id, balance, total_purchased, total_spent,
                entry_count, held, created_at, updated_at)
            VALUES (gen_random_uuid(), %(user)s, %(left)s, 0, %(spent)s, %(entries)s, 0, now(),
                now())
            RETURNING id
            """,
            {
                "user": user.pk,
                "left": funds - (entries - 1),
                "spent": entries - 1,
                "entries": entries,
            },
        )
        (account,) = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO tokens_tokentransaction
                (id, account_id, number, amount, transaction_type, reference_type, reference_id,
                 description, balance_after, idempotency_key, created_at)
            SELECT gen_random_uuid(), %(account)s, n,
                   CASE WHEN n = 1 THEN %(funds)s ELSE -1 END,
                   CASE WHEN n = 1 THEN 'adjustment' ELSE 'usage' END,
                   '', '', 'job ' || n, %(funds)s - (n - 1), '',
                   now() - make_interval(secs => %(entries)s - n)
            FROM generate_series(1, %(entries)s) AS n
            """,
            {"account": account, "funds": funds, "entries": entries},
        )
        cursor.execute("SET session_replication_role = DEFAULT")


def test_the_csv_of_a_long_history_arrives_whole_under_gunicorn():
    """gunicorn's sync worker reports itself alive only between requests, and its arbiter
    kills one silent for `timeout` seconds: the export was cut off there, mid-file (the
    1,000,000-entry CSV takes 38 s against a timeout of 30). The timeout is 1 s here, so
    that 200,000 entries outlast it."""
    user = UserFactory()
    long_history(user, ENTRIES)

    with gunicorn(
        database=the_test_database(), workers=1, GUNICORN_CMD_ARGS="--timeout 1"
    ) as server:
        request = urllib.request.Request(f"{server.base}{HISTORY}?format=csv")
        request.add_header("Authorization", f"Bearer {AccessToken.for_user(user)}")
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read().decode()

    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == ENTRIES
    assert [int(row["balance_after"]) for row in (rows[0], rows[-1])] == [
        10 * ENTRIES - (ENTRIES - 1),
        10 * ENTRIES,
    ]
