"""On PostgreSQL the triggers that raise the catalog's version become constraint triggers that
a transaction may defer to its commit, and the catalog's services do (`catalog.services`).
Raised per row, the version's single row was locked from a transaction's first catalog write
to its commit, so two staff writes touching the same items in different orders (an admin
list edit saving X then Y while the API changed Y) waited on each other through it, and
PostgreSQL aborted one as a deadlock. Deferred, the lock is held for the commit alone and no
transaction waits for it while holding an item. They stay immediate unless deferred: a
deferred event pending on a table stops an ALTER TABLE of it in the same transaction, which
a migration that fills a column and then alters it would run into.

SQLite keeps its triggers as they are: a writer there holds the database alone from its
first statement (`transaction_mode: IMMEDIATE`), so no two writers ever wait on each other.
TRUNCATE keeps its statement trigger (constraint triggers are row triggers only; TRUNCATE
locks the whole table anyway)."""

from django.db import migrations

TABLES = ("catalog_currency", "catalog_tokenbundle", "catalog_addon", "catalog_plan")


def _row_triggers(constraint: bool) -> list[str]:
    kind = "CONSTRAINT TRIGGER" if constraint else "TRIGGER"
    timing = " DEFERRABLE INITIALLY IMMEDIATE" if constraint else ""
    return [
        statement
        for table in TABLES
        for statement in (
            f"DROP TRIGGER IF EXISTS {table}_version ON {table}",
            f"CREATE {kind} {table}_version AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f"{timing} FOR EACH ROW EXECUTE FUNCTION catalog_version_bump()",
        )
    ]


def at_commit(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _row_triggers(constraint=True):
            schema_editor.execute(statement, params=None)


def per_row(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _row_triggers(constraint=False):
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_catalog_version")]

    operations = [migrations.RunPython(at_commit, per_row)]
