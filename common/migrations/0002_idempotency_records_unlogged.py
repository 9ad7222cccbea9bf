"""Idempotency records skip the write-ahead log on PostgreSQL (an UNLOGGED table).

They guard requests in front of keys that are durable in their own tables (a ledger entry's
idempotency key, an invoice's), so their commits need not wait for a disk flush. A crash or a
failover forgets them: a retry then runs again and those durable keys answer with the first
result. What is lost is only the replay of a refusal and the 409 for a request in flight at
the crash. docs/decisions.md has the reasoning.
"""

from django.db import migrations

TABLE = "common_idempotencyrecord"


def set_unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET UNLOGGED", params=None)


def set_logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET LOGGED", params=None)


class Migration(migrations.Migration):
    dependencies = [("common", "0001_idempotency_records")]

    operations = [migrations.RunPython(set_unlogged, set_logged)]
