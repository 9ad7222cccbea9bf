"""The ledger's two hot writes on PostgreSQL, one call each (tokens/ledger/debit.py and
usage.py have their SQLite twins in Python):

- `tokens_debit` locks the account row, then (each statement of a function sees everything
  committed before the lock was granted) checks what is available (the balance less expired
  lots not yet swept and tokens that active holds reserve; a capture may spend its own hold's),
  appends the entry, burns the lots in the burn order with one set-based UPDATE and records the
  allocations. It answers the balances after and the user's own low-balance threshold, so the
  caller can tell a crossing in the same transaction.
- `tokens_use` records one piece of usage: free while an unlimited plan covers the user, else
  through `tokens_debit`, with what it charged and whether only trial lots paid.
"""

from django.db import migrations

OLD_DEBIT = (
    "tokens_debit(uuid, bigint, timestamptz, uuid, varchar, varchar, varchar, varchar, varchar, "
    "uuid, bigint)"
)
DEBIT = (
    "tokens_debit(uuid, bigint, timestamptz, uuid, varchar, varchar, varchar, varchar, varchar, "
    "uuid, boolean, uuid, boolean)"
)
USE = (
    "tokens_use(uuid, bigint, timestamptz, uuid, uuid, varchar, varchar, varchar, varchar, "
    "varchar, uuid, boolean)"
)

POSTGRESQL_DEBIT = f"""
DROP FUNCTION IF EXISTS {OLD_DEBIT};
DROP FUNCTION IF EXISTS {DEBIT};
CREATE OR REPLACE FUNCTION tokens_debit(
    p_user_id uuid, p_amount bigint, p_now timestamptz, p_entry_id uuid, p_type varchar,
    p_reference_type varchar, p_reference_id varchar, p_description varchar,
    p_idempotency_key varchar, p_created_by uuid, p_spent boolean, p_hold_id uuid,
    p_partial boolean
) RETURNS TABLE (
    status text, account_id uuid, number bigint, balance_after bigint, shown bigint,
    available bigint, threshold bigint, lot_id uuid, category varchar, taken bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_account tokens_tokenaccount%ROWTYPE;
    v_expired bigint := 0;
    v_held bigint;
    v_own bigint := 0;
    v_shown bigint;
    v_available bigint;
BEGIN
    -- The account's row lock first: every writer of its lots and holds takes it, and each
    -- statement below sees everything committed before it was granted.
    SELECT * INTO v_account FROM tokens_tokenaccount a WHERE a.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'insufficient'::text, NULL::uuid, NULL::bigint, NULL::bigint,
            0::bigint, 0::bigint, NULL::bigint, NULL::uuid, NULL::varchar, NULL::bigint;
        RETURN;
    END IF;
    -- Expired lots not yet swept are in the stored balance but never spendable.
    IF v_account.next_expiry_at IS NOT NULL AND v_account.next_expiry_at <= p_now THEN
        SELECT COALESCE(SUM(l.remaining), 0) INTO v_expired FROM tokens_tokenlot l
        WHERE l.account_id = v_account.id AND l.remaining > 0 AND l.expires_at <= p_now;
    END IF;
    -- Tokens reserved by holds that have not expired (expired ones may not be swept yet).
    v_held := v_account.held;
    IF v_account.next_hold_expiry_at IS NOT NULL AND v_account.next_hold_expiry_at <= p_now THEN
        SELECT COALESCE(SUM(h.amount - h.captured), 0) INTO v_held FROM tokens_hold h
        WHERE h.account_id = v_account.id AND h.status = 'active' AND h.source = 'tokens'
            AND h.expires_at > p_now;
    END IF;
    -- A capture may spend what its own hold reserved.
    IF p_hold_id IS NOT NULL THEN
        SELECT COALESCE(SUM(h.amount - h.captured), 0) INTO v_own FROM tokens_hold h
        WHERE h.id = p_hold_id AND h.status = 'active' AND h.source = 'tokens'
            AND h.expires_at > p_now;
    END IF;
    v_shown := v_account.balance - v_expired;
    v_available := v_shown - GREATEST(v_held - v_own, 0);
    IF v_available < p_amount THEN
        IF p_partial AND v_available > 0 THEN
            p_amount := v_available;
        ELSE
            RETURN QUERY SELECT 'insufficient'::text, v_account.id, NULL::bigint, NULL::bigint,
                v_shown, v_available, v_account.low_balance_threshold::bigint, NULL::uuid,
                NULL::varchar, NULL::bigint;
            RETURN;
        END IF;
    END IF;
    INSERT INTO tokens_tokentransaction (id, account_id, number, amount, transaction_type,
        reference_type, reference_id, description, balance_after, idempotency_key,
        created_by_id, created_at)
    VALUES (p_entry_id, v_account.id, v_account.entry_count + 1, -p_amount, p_type,
        p_reference_type, p_reference_id, p_description, v_account.balance - p_amount,
        p_idempotency_key, p_created_by, p_now);
    UPDATE tokens_tokenaccount a SET balance = a.balance - p_amount,
        total_spent = a.total_spent + CASE WHEN p_spent THEN p_amount ELSE 0 END,
        entry_count = a.entry_count + 1, updated_at = p_now
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
        v_shown - p_amount, v_available - p_amount, v_account.low_balance_threshold::bigint,
        burned.id, burned.category, burned.taken
    FROM burned;
END;
$$;
"""

POSTGRESQL_USE = f"""
DROP FUNCTION IF EXISTS {USE};
CREATE OR REPLACE FUNCTION tokens_use(
    p_user_id uuid, p_amount bigint, p_now timestamptz, p_usage_id uuid, p_entry_id uuid,
    p_feature varchar, p_description varchar, p_reference varchar, p_usage_key varchar,
    p_entry_key varchar, p_hold_id uuid, p_partial boolean
) RETURNS TABLE (
    status text, account_id uuid, number bigint, balance_after bigint, shown bigint,
    available bigint, threshold bigint, lot_id uuid, category varchar, taken bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_account_id uuid;
    v_until timestamptz;
    v_charged bigint := 0;
    v_trial_only boolean := true;
    v_debited boolean := false;
    r record;
BEGIN
    SELECT a.id, a.unlimited_until INTO v_account_id, v_until
    FROM tokens_tokenaccount a WHERE a.user_id = p_user_id FOR UPDATE;
    -- An unlimited plan pays for usage until the instant it ends.
    IF v_until IS NOT NULL AND v_until > p_now AND p_hold_id IS NULL THEN
        INSERT INTO tokens_usagerecord (id, account_id, amount, charged, source, feature,
            description, reference, idempotency_key, created_at)
        VALUES (p_usage_id, v_account_id, p_amount, 0, 'subscription', p_feature,
            p_description, p_reference, p_usage_key, p_now);
        RETURN QUERY SELECT 'covered'::text, v_account_id, NULL::bigint, NULL::bigint,
            NULL::bigint, NULL::bigint, NULL::bigint, NULL::uuid, NULL::varchar, NULL::bigint;
        RETURN;
    END IF;
    FOR r IN SELECT * FROM tokens_debit(p_user_id, p_amount, p_now, p_entry_id, 'usage',
        CASE WHEN p_reference = '' THEN '' ELSE 'client' END, p_reference, p_description,
        p_entry_key, NULL, true, p_hold_id, p_partial)
    LOOP
        IF r.status = 'ok' THEN
            v_debited := true;
            v_charged := v_charged + r.taken;
            v_trial_only := v_trial_only AND r.category = 'trial';
        END IF;
        status := r.status; account_id := r.account_id; number := r.number;
        balance_after := r.balance_after; shown := r.shown; available := r.available;
        threshold := r.threshold;
        lot_id := r.lot_id; category := r.category; taken := r.taken;
        RETURN NEXT;
    END LOOP;
    IF v_debited THEN
        INSERT INTO tokens_usagerecord (id, account_id, amount, charged, source, feature,
            description, reference, idempotency_key, entry_id, hold_id, created_at)
        VALUES (p_usage_id, v_account_id, p_amount, v_charged,
            CASE WHEN v_trial_only THEN 'trial' ELSE 'tokens' END, p_feature, p_description,
            p_reference, p_usage_key, p_entry_id, p_hold_id, p_now);
    END IF;
    RETURN;
END;
$$;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DEBIT, params=None)
        schema_editor.execute(POSTGRESQL_USE, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION {USE}; DROP FUNCTION {DEBIT};", params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0009_alerts_and_expiry_warnings")]

    operations = [migrations.RunPython(install, remove)]
