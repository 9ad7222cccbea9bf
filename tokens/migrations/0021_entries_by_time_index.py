"""The ledger's entries by time, for the admin's list (newest first across every account) and
its date filter: without it each load sorted the whole table (1,000,000 entries: 3.5 s for
the page's rows, the page 4.5 s). Built CONCURRENTLY on PostgreSQL, so that debits and
credits go on while it is built, without the statement and lock timeouts (it waits for the
transactions open when it starts), and after a leftover invalid index of a failed attempt is
dropped; on SQLite a plain CREATE INDEX, which does not rebuild the table (a rebuild would
drop its append-only triggers, docs/decisions.md)."""

from django.db import migrations, models

from common.migration_indexes import index_create, index_drop

NAME = "tokens_entry_created"
TABLE = "tokens_tokentransaction"


def create(apps, schema_editor):
    index_create(schema_editor, NAME, TABLE, "created_at")


def drop(apps, schema_editor):
    index_drop(schema_editor, NAME)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("tokens", "0020_ledger_check_run_failures")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="tokentransaction",
                    index=models.Index(fields=["created_at"], name=NAME),
                )
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
