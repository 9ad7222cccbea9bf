"""On PostgreSQL the server binds each statement's parameters, and a connection prepares a
statement once it has run it a few times: the hot reads and writes are parsed and planned once
per connection, not once per request. Behind PgBouncer in transaction pooling nothing is
prepared, since the next transaction may run on a server connection that never saw the
statement. Both through the settings as the environment gives them, in a process of its own."""

from __future__ import annotations

import pytest

from common.tests.servers import database_url, the_test_database
from common.tests.test_settings import manage

pytestmark = pytest.mark.django_db(transaction=True)

# Ten balance reads of a user without an account on one connection, then what that
# connection's server session holds prepared.
BALANCE_READS_THEN_PREPARED = """
import uuid
from django.db import connection
from tokens.selectors.balance import token_balance
balances = {token_balance(user_id=uuid.UUID(int=7)).balance for _ in range(10)}
with connection.cursor() as cursor:
    cursor.execute("SELECT statement FROM pg_prepared_statements")
    prepared = [statement for (statement,) in cursor.fetchall()]
print(balances, sum("tokens_tokenlot" in statement for statement in prepared))
"""


def balance_reads_then_prepared(database: dict, *, pooled: bool) -> str:
    result = manage(
        "shell",
        "-v",
        "0",
        "-c",
        BALANCE_READS_THEN_PREPARED,
        DEBUG="1",
        DATABASE_URL=database_url(**database),
        DB_TRANSACTION_POOLING="1" if pooled else "0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_straight_to_postgresql_a_statement_run_again_and_again_is_prepared_once():
    assert balance_reads_then_prepared(the_test_database(), pooled=False) == "{0} 1"


def test_behind_pgbouncer_in_transaction_pooling_nothing_is_prepared(request):
    through = request.getfixturevalue("_pgbouncer")

    seen = balance_reads_then_prepared(through, pooled=True)

    assert seen == "{0} 0"
