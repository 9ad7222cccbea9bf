"""The lots' rules in the database, on PostgreSQL and SQLite: allocations are append-only and
join an entry and a lot of the same account; a lot changes only in `remaining` and the moments
it was expired, warned of or voided, and is never deleted. (The debit function is in 0010.)"""

from django.db import migrations

ALLOCATIONS = "tokens_tokenallocation"
LOTS = "tokens_tokenlot"
SAME_ACCOUNT = "an allocation joins an entry and a lot of the same account"
LOT_FIXED = "a lot changes only in remaining, expired_at, expiry_warned_at and voided_at"
LOT_KEPT = "lots are never deleted"
ALLOCATION_KEPT = "allocations are append-only"
FIXED_COLUMNS = [
    "account_id",
    "category",
    "amount",
    "expires_at",
    "priority",
    "source_type",
    "source_id",
    "credit_id",
    "created_at",
]


POSTGRESQL_RULES = f"""
CREATE OR REPLACE FUNCTION tokens_allocation_same_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM {LOTS} l JOIN tokens_tokentransaction e ON e.account_id = l.account_id
        WHERE l.id = NEW.lot_id AND e.id = NEW.entry_id
    ) THEN
        RAISE EXCEPTION '{SAME_ACCOUNT}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tokens_allocation_same_account AFTER INSERT ON {ALLOCATIONS}
    FOR EACH ROW EXECUTE FUNCTION tokens_allocation_same_account();
CREATE TRIGGER tokens_allocation_append_only BEFORE UPDATE OR DELETE ON {ALLOCATIONS}
    FOR EACH ROW EXECUTE FUNCTION tokens_ledger_append_only();
CREATE OR REPLACE FUNCTION tokens_lot_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '{LOT_KEPT}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF ({", ".join(f"NEW.{c}" for c in FIXED_COLUMNS)})
        IS DISTINCT FROM ({", ".join(f"OLD.{c}" for c in FIXED_COLUMNS)}) THEN
        RAISE EXCEPTION '{LOT_FIXED}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tokens_lot_fixed BEFORE UPDATE OR DELETE ON {LOTS}
    FOR EACH ROW EXECUTE FUNCTION tokens_lot_fixed();
"""

POSTGRESQL_REMOVE = f"""
DROP TRIGGER tokens_lot_fixed ON {LOTS};
DROP FUNCTION tokens_lot_fixed();
DROP TRIGGER tokens_allocation_append_only ON {ALLOCATIONS};
DROP TRIGGER tokens_allocation_same_account ON {ALLOCATIONS};
DROP FUNCTION tokens_allocation_same_account();
"""

SQLITE_RULES = [
    f"""CREATE TRIGGER tokens_allocation_same_account AFTER INSERT ON {ALLOCATIONS}
        WHEN NOT EXISTS (
            SELECT 1 FROM {LOTS} l JOIN tokens_tokentransaction e ON e.account_id = l.account_id
            WHERE l.id = NEW.lot_id AND e.id = NEW.entry_id
        )
        BEGIN SELECT RAISE(ABORT, '{SAME_ACCOUNT}'); END;""",
    f"""CREATE TRIGGER tokens_allocation_no_update BEFORE UPDATE ON {ALLOCATIONS}
        BEGIN SELECT RAISE(ABORT, '{ALLOCATION_KEPT} (UPDATE refused)'); END;""",
    f"""CREATE TRIGGER tokens_allocation_no_delete BEFORE DELETE ON {ALLOCATIONS}
        BEGIN SELECT RAISE(ABORT, '{ALLOCATION_KEPT} (DELETE refused)'); END;""",
    f"""CREATE TRIGGER tokens_lot_fixed BEFORE UPDATE ON {LOTS}
        WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FIXED_COLUMNS)}
        BEGIN SELECT RAISE(ABORT, '{LOT_FIXED}'); END;""",
    f"""CREATE TRIGGER tokens_lot_no_delete BEFORE DELETE ON {LOTS}
        BEGIN SELECT RAISE(ABORT, '{LOT_KEPT}'); END;""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER tokens_allocation_same_account;",
    "DROP TRIGGER tokens_allocation_no_update;",
    "DROP TRIGGER tokens_allocation_no_delete;",
    "DROP TRIGGER tokens_lot_fixed;",
    "DROP TRIGGER tokens_lot_no_delete;",
]


def install(apps, schema_editor):
    _run(schema_editor, [POSTGRESQL_RULES], SQLITE_RULES)


def remove(apps, schema_editor):
    _run(schema_editor, [POSTGRESQL_REMOVE], SQLITE_REMOVE)


def _run(schema_editor, postgresql, sqlite):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": postgresql, "sqlite": sqlite}.get(vendor)
    if statements is None:
        raise NotImplementedError(f"No lot rules for {vendor}; add them before using it.")
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0004_lots")]

    operations = [migrations.RunPython(install, remove)]
