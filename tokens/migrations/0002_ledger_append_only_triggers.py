"""The database refuses UPDATE and DELETE on the ledger, on PostgreSQL and on SQLite."""

from django.db import migrations

TABLE = "tokens_tokentransaction"
MESSAGE = "the token ledger is append-only: append a correcting entry instead"

POSTGRESQL_INSTALL = f"""
CREATE OR REPLACE FUNCTION tokens_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER tokens_ledger_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION tokens_ledger_append_only();
"""
POSTGRESQL_REMOVE = f"""
DROP TRIGGER tokens_ledger_append_only ON {TABLE};
DROP FUNCTION tokens_ledger_append_only();
"""
SQLITE_INSTALL = [
    f"""CREATE TRIGGER tokens_ledger_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE} (UPDATE refused)'); END;""",
    f"""CREATE TRIGGER tokens_ledger_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE} (DELETE refused)'); END;""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER tokens_ledger_no_update;",
    "DROP TRIGGER tokens_ledger_no_delete;",
]


def install(apps, schema_editor):
    _run(schema_editor, POSTGRESQL_INSTALL, SQLITE_INSTALL)


def remove(apps, schema_editor):
    _run(schema_editor, POSTGRESQL_REMOVE, SQLITE_REMOVE)


def _run(schema_editor, postgresql, sqlite):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgresql, params=None)
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement, params=None)
    else:
        raise NotImplementedError(f"No append-only trigger for {vendor}; add one before using it.")


class Migration(migrations.Migration):
    dependencies = [("tokens", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
