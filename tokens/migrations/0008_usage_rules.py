"""Usage records are append-only but for `refunded_at`, set once, on PostgreSQL and SQLite.
(The functions that record usage are in 0010.)"""

from django.db import migrations

USAGE = "tokens_usagerecord"
USAGE_FIXED = "usage is append-only but for refunded_at, set once"
USAGE_COLUMNS = [
    "id",
    "account_id",
    "amount",
    "charged",
    "source",
    "feature",
    "description",
    "reference",
    "entry_id",
    "hold_id",
    "idempotency_key",
    "created_at",
]



POSTGRESQL_USAGE_RULES = f"""
CREATE OR REPLACE FUNCTION tokens_usage_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.refunded_at IS NOT NULL
        OR ({", ".join(f"NEW.{c}" for c in USAGE_COLUMNS)})
            IS DISTINCT FROM ({", ".join(f"OLD.{c}" for c in USAGE_COLUMNS)}) THEN
        RAISE EXCEPTION '{USAGE_FIXED}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tokens_usage_fixed BEFORE UPDATE OR DELETE ON {USAGE}
    FOR EACH ROW EXECUTE FUNCTION tokens_usage_fixed();
"""

POSTGRESQL_REMOVE = f"""
DROP TRIGGER tokens_usage_fixed ON {USAGE};
DROP FUNCTION tokens_usage_fixed();
"""

SQLITE_RULES = [
    f"""CREATE TRIGGER tokens_usage_fixed BEFORE UPDATE ON {USAGE}
        WHEN OLD.refunded_at IS NOT NULL
            OR {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in USAGE_COLUMNS)}
        BEGIN SELECT RAISE(ABORT, '{USAGE_FIXED}'); END;""",
    f"""CREATE TRIGGER tokens_usage_kept BEFORE DELETE ON {USAGE}
        BEGIN SELECT RAISE(ABORT, '{USAGE_FIXED}'); END;""",
]
SQLITE_REMOVE = ["DROP TRIGGER tokens_usage_fixed;", "DROP TRIGGER tokens_usage_kept;"]


def install(apps, schema_editor):
    _run(schema_editor, [POSTGRESQL_USAGE_RULES], SQLITE_RULES)


def remove(apps, schema_editor):
    _run(schema_editor, [POSTGRESQL_REMOVE], SQLITE_REMOVE)


def _run(schema_editor, postgresql, sqlite):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": postgresql, "sqlite": sqlite}.get(vendor)
    if statements is None:
        raise NotImplementedError(f"No usage rules for {vendor}; add them before using it.")
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0007_usage_holds_coverage")]

    operations = [migrations.RunPython(install, remove)]
