"""On SQLite, 0004 rebuilt the ledger's table (SQLite alters a table by copying it), and the
rebuild dropped the append-only triggers of 0002: the database no longer refused an UPDATE or
DELETE of an entry. This puts them back. PostgreSQL kept its trigger; nothing to do there.
(`tokens/tests/test_models.py` checks the refusal on both, after every migration.)"""

import importlib

from django.db import migrations

APPEND_ONLY = importlib.import_module("tokens.migrations.0002_ledger_append_only_triggers")


def restore(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in APPEND_ONLY.SQLITE_INSTALL:
        schema_editor.execute(
            statement.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1), params=None
        )


class Migration(migrations.Migration):
    dependencies = [("tokens", "0010_ledger_functions")]

    operations = [migrations.RunPython(restore, migrations.RunPython.noop)]
