"""The lots' rules in the database, on PostgreSQL and SQLite: allocations are append-only and
join an entry and a lot of the same account; a lot changes only in `remaining` and the moments
it was expired or voided, and is never deleted. On PostgreSQL also `tokens_debit`, the one
statement a debit is (tokens/ledger/debit.py has its SQLite twin)."""

from django.db import migrations

ALLOCATIONS = "tokens_tokenallocation"
LOTS = "tokens_tokenlot"
SAME_ACCOUNT = "an allocation joins an entry and a lot of the same account"
LOT_FIXED = "a lot changes only in remaining, expired_at and voided_at"
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

POSTGRESQL_DEBIT = """
CREATE OR REPLACE FUNCTION tokens_debit(
    p_user_id uuid, p_amount bigint, p_now timestamptz, p_entry_id uuid, p_type varchar,
    p_reference_type varchar, p_reference_id varchar, p_description varchar,
    p_idempotency_key varchar, p_created_by uuid, p_spent bigint
) RETURNS TABLE (
    status text, account_id uuid, number bigint, balance_after bigint, shown bigint,
    lot_id uuid, category varchar, taken bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_account tokens_tokenaccount%ROWTYPE;
    v_expired bigint := 0;
    v_shown bigint;
BEGIN
    -- The account's row lock first: every writer of its lots takes it, and each statement
    -- below sees everything committed before it was granted.
    SELECT * INTO v_account FROM tokens_tokenaccount a WHERE a.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'insufficient'::text, NULL::uuid, NULL::bigint, NULL::bigint,
            0::bigint, NULL::uuid, NULL::varchar, NULL::bigint;
        RETURN;
    END IF;
    -- Expired lots not yet swept are in the stored balance but never spendable.
    IF v_account.next_expiry_at IS NOT NULL AND v_account.next_expiry_at <= p_now THEN
        SELECT COALESCE(SUM(l.remaining), 0) INTO v_expired FROM tokens_tokenlot l
        WHERE l.account_id = v_account.id AND l.remaining > 0 AND l.expires_at <= p_now;
    END IF;
    v_shown := v_account.balance - v_expired;
    IF v_shown < p_amount THEN
        RETURN QUERY SELECT 'insufficient'::text, v_account.id, NULL::bigint, NULL::bigint,
            v_shown, NULL::uuid, NULL::varchar, NULL::bigint;
        RETURN;
    END IF;
    INSERT INTO tokens_tokentransaction (id, account_id, number, amount, transaction_type,
        reference_type, reference_id, description, balance_after, idempotency_key,
        created_by_id, created_at)
    VALUES (p_entry_id, v_account.id, v_account.entry_count + 1, -p_amount, p_type,
        p_reference_type, p_reference_id, p_description, v_account.balance - p_amount,
        p_idempotency_key, p_created_by, p_now);
    UPDATE tokens_tokenaccount a SET balance = a.balance - p_amount,
        total_spent = a.total_spent + p_spent, entry_count = a.entry_count + 1,
        updated_at = p_now
    WHERE a.id = v_account.id;
    -- The burn order: priority, soonest expiry (never last), category, oldest, id.
    RETURN QUERY
    WITH live AS (
        SELECT l.id, l.category, l.remaining,
            SUM(l.remaining) OVER (ORDER BY l.priority, l.expires_at,
                CASE l.category WHEN 'trial' THEN 0 WHEN 'promotional' THEN 1
                    WHEN 'included' THEN 2 ELSE 3 END,
                l.created_at, l.id)::bigint AS running
        FROM tokens_tokenlot l
        WHERE l.account_id = v_account.id AND l.remaining > 0
            AND (l.expires_at IS NULL OR l.expires_at > p_now)
    ), plan AS (
        SELECT live.id, live.category,
            LEAST(live.remaining, p_amount - (live.running - live.remaining)) AS taken
        FROM live WHERE live.running - live.remaining < p_amount
    ), burned AS (
        UPDATE tokens_tokenlot l SET remaining = l.remaining - plan.taken
        FROM plan WHERE l.id = plan.id
        RETURNING l.id, plan.category, plan.taken
    ), allocated AS (
        INSERT INTO tokens_tokenallocation (entry_id, lot_id, amount)
        SELECT p_entry_id, burned.id, -burned.taken FROM burned
    )
    SELECT 'ok'::text, v_account.id, v_account.entry_count + 1, v_account.balance - p_amount,
        v_shown - p_amount, burned.id, burned.category, burned.taken
    FROM burned;
END;
$$;
"""

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
DROP FUNCTION tokens_debit;
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
    _run(schema_editor, [POSTGRESQL_RULES, POSTGRESQL_DEBIT], SQLITE_RULES)


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
