"""Delivery attempts by time, for the admin's list (newest first across every endpoint):
without it each load sorted the whole table, which gains a row for every attempt. Built
CONCURRENTLY on PostgreSQL, so that the worker goes on recording attempts while it is built
(common.migration_indexes)."""

from django.db import migrations, models

from common.migration_indexes import index_create, index_drop

NAME = "events_attempt_created"
TABLE = "events_deliveryattempt"


def create(apps, schema_editor):
    index_create(schema_editor, NAME, TABLE, "created_at, id")


def drop(apps, schema_editor):
    index_drop(schema_editor, NAME)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("events", "0006_endpoint_pause_lifted_at")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="deliveryattempt",
                    index=models.Index(fields=["created_at", "id"], name=NAME),
                )
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
