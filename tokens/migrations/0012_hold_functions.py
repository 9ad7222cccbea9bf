"""A hold and its capture, one call each on PostgreSQL (tokens/ledger/holds.py has their
SQLite twins in Python), as the usage they stand for is:

- `tokens_hold` locks the account row, checks what is available as `tokens_debit` does (the
  balance less expired lots not yet swept and what active holds reserve), inserts the hold
  and adds it to what the account holds. Under an unlimited plan the hold reserves nothing.
- `tokens_capture` locks the account row and then the hold, refuses a hold that is not
  active, has expired or has less left than asked (answering why, with the hold), records
  the usage (as `tokens_use` does, through `tokens_debit`, which may spend the hold's own
  reservation, takes what there is when lots it counted on have expired, and takes what the
  capture and a final capture's release give back off what the account holds), then marks
  the hold.
"""

from importlib import import_module

from django.db import migrations

tokens_0010 = import_module("tokens.migrations.0010_ledger_functions")

OLD_DEBIT = (
    "tokens_debit(uuid, bigint, timestamptz, uuid, varchar, varchar, varchar, varchar, varchar, "
    "uuid, boolean, uuid, boolean)"
)
DEBIT = (
    "tokens_debit(uuid, bigint, timestamptz, uuid, varchar, varchar, varchar, varchar, varchar, "
    "uuid, boolean, uuid, boolean, bigint)"
)
HOLD = "tokens_hold(uuid, bigint, timestamptz, uuid, timestamptz, varchar, varchar, varchar)"
CAPTURE = "tokens_capture(uuid, uuid, bigint, boolean, timestamptz, uuid, uuid, varchar)"


def _debit_with_release() -> str:
    """`tokens_debit` of 0010, and what a capture gives back of its hold (`p_release`) taken
    off what the account holds in the same UPDATE."""
    changes = {
        "    p_partial boolean\n) RETURNS TABLE": (
            "    p_partial boolean, p_release bigint DEFAULT 0\n) RETURNS TABLE"
        ),
        "        entry_count = a.entry_count + 1, updated_at = p_now\n": (
            "        entry_count = a.entry_count + 1, updated_at = p_now,\n"
            "        held = a.held - p_release\n"
        ),
        f"DROP FUNCTION IF EXISTS {tokens_0010.OLD_DEBIT};\n": "",
        f"DROP FUNCTION IF EXISTS {OLD_DEBIT};\n": (
            f"DROP FUNCTION IF EXISTS {OLD_DEBIT};\nDROP FUNCTION IF EXISTS {DEBIT};\n"
        ),
    }
    function = tokens_0010.POSTGRESQL_DEBIT
    for old, new in changes.items():
        if old not in function:
            raise RuntimeError(f"0010's tokens_debit has changed: {old!r} is gone.")
        function = function.replace(old, new)
    return function


POSTGRESQL_DEBIT = _debit_with_release()

POSTGRESQL_HOLD = f"""
DROP FUNCTION IF EXISTS {HOLD};
CREATE FUNCTION tokens_hold(
    p_user_id uuid, p_amount bigint, p_now timestamptz, p_hold_id uuid,
    p_expires_at timestamptz, p_feature varchar, p_reference varchar, p_key varchar
) RETURNS TABLE (
    status text, account_id uuid, source varchar, shown bigint, available bigint,
    threshold bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_account tokens_tokenaccount%ROWTYPE;
    v_expired bigint := 0;
    v_held bigint;
    v_shown bigint;
    v_available bigint;
    v_covered boolean;
BEGIN
    SELECT * INTO v_account FROM tokens_tokenaccount a WHERE a.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'insufficient'::text, NULL::uuid, NULL::varchar, 0::bigint,
            0::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF v_account.next_expiry_at IS NOT NULL AND v_account.next_expiry_at <= p_now THEN
        SELECT COALESCE(SUM(l.remaining), 0) INTO v_expired FROM tokens_tokenlot l
        WHERE l.account_id = v_account.id AND l.remaining > 0 AND l.expires_at <= p_now;
    END IF;
    v_held := v_account.held;
    IF v_account.next_hold_expiry_at IS NOT NULL AND v_account.next_hold_expiry_at <= p_now THEN
        SELECT COALESCE(SUM(h.amount - h.captured), 0) INTO v_held FROM tokens_hold h
        WHERE h.account_id = v_account.id AND h.status = 'active' AND h.source = 'tokens'
            AND h.expires_at > p_now;
    END IF;
    v_shown := v_account.balance - v_expired;
    v_available := v_shown - GREATEST(v_held, 0);
    v_covered := v_account.unlimited_until IS NOT NULL AND v_account.unlimited_until > p_now;
    IF NOT v_covered AND v_available < p_amount THEN
        RETURN QUERY SELECT 'insufficient'::text, v_account.id, NULL::varchar, v_shown,
            v_available, v_account.low_balance_threshold::bigint;
        RETURN;
    END IF;
    INSERT INTO tokens_hold (id, account_id, amount, captured, status, source, feature,
        reference, idempotency_key, expires_at, resolved_at, created_at)
    VALUES (p_hold_id, v_account.id, p_amount, 0, 'active',
        CASE WHEN v_covered THEN 'subscription' ELSE 'tokens' END, p_feature, p_reference,
        p_key, p_expires_at, NULL, p_now);
    IF v_covered THEN
        RETURN QUERY SELECT 'ok'::text, v_account.id, 'subscription'::varchar, v_shown,
            v_available, v_account.low_balance_threshold::bigint;
        RETURN;
    END IF;
    UPDATE tokens_tokenaccount a SET held = a.held + p_amount,
        next_hold_expiry_at = LEAST(a.next_hold_expiry_at, p_expires_at)
    WHERE a.id = v_account.id;
    RETURN QUERY SELECT 'ok'::text, v_account.id, 'tokens'::varchar, v_shown,
        v_available - p_amount, v_account.low_balance_threshold::bigint;
END;
$$;
"""

POSTGRESQL_CAPTURE = f"""
DROP FUNCTION IF EXISTS {CAPTURE};
CREATE FUNCTION tokens_capture(
    p_user_id uuid, p_hold_id uuid, p_amount bigint, p_final boolean, p_now timestamptz,
    p_usage_id uuid, p_entry_id uuid, p_usage_key varchar
) RETURNS TABLE (
    status text, account_id uuid, number bigint, balance_after bigint, shown bigint,
    available bigint, threshold bigint, lot_id uuid, category varchar, taken bigint,
    hold_amount bigint, hold_captured bigint, hold_status varchar, hold_source varchar,
    hold_feature varchar, hold_reference varchar, hold_key varchar,
    hold_expires_at timestamptz, hold_resolved_at timestamptz, hold_created_at timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_account_id uuid;
    v_hold tokens_hold%ROWTYPE;
    v_uncaptured bigint;
    v_state text;
    v_released bigint;
    v_description varchar := 'Capture of hold ' || p_hold_id::text;
    v_charged bigint := 0;
    v_trial_only boolean := true;
    r record;
BEGIN
    SELECT a.id INTO v_account_id FROM tokens_tokenaccount a
    WHERE a.user_id = p_user_id FOR UPDATE;
    IF v_account_id IS NOT NULL THEN
        SELECT * INTO v_hold FROM tokens_hold h
        WHERE h.id = p_hold_id AND h.account_id = v_account_id FOR UPDATE;
    END IF;
    IF v_hold.id IS NULL THEN
        status := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;
    v_uncaptured := v_hold.amount - v_hold.captured;
    v_state := CASE
        WHEN v_hold.status = 'expired'
            OR (v_hold.status = 'active' AND v_hold.expires_at <= p_now) THEN 'expired'
        WHEN v_hold.status <> 'active' THEN 'not_active'
        WHEN p_amount > v_uncaptured THEN 'exceeds'
        ELSE 'ok'
    END;
    account_id := v_account_id;
    hold_amount := v_hold.amount; hold_source := v_hold.source;
    hold_feature := v_hold.feature; hold_reference := v_hold.reference;
    hold_key := v_hold.idempotency_key; hold_expires_at := v_hold.expires_at;
    hold_created_at := v_hold.created_at;
    IF v_state <> 'ok' THEN
        status := v_state;
        hold_captured := v_hold.captured; hold_status := v_hold.status;
        hold_resolved_at := v_hold.resolved_at;
        RETURN NEXT;
        RETURN;
    END IF;
    v_released := CASE WHEN p_final THEN v_uncaptured - p_amount ELSE 0 END;
    -- What the hold will be (rows are sent when the function ends, after its updates).
    hold_captured := v_hold.captured + p_amount;
    IF p_final OR hold_captured = v_hold.amount THEN
        hold_status := 'captured'; hold_resolved_at := p_now;
    ELSE
        hold_status := 'active'; hold_resolved_at := NULL;
    END IF;
    IF v_hold.source = 'subscription' THEN
        INSERT INTO tokens_usagerecord (id, account_id, amount, charged, source, feature,
            description, reference, idempotency_key, hold_id, created_at)
        VALUES (p_usage_id, v_account_id, p_amount, 0, 'subscription', v_hold.feature,
            v_description, v_hold.reference, p_usage_key, p_hold_id, p_now);
        status := 'covered';
        RETURN NEXT;
    ELSE
        -- The debit reads the hold as it is (active, its reservation spendable by itself).
        FOR r IN SELECT * FROM tokens_debit(p_user_id, p_amount, p_now, p_entry_id, 'usage',
            CASE WHEN v_hold.reference = '' THEN '' ELSE 'client' END, v_hold.reference,
            v_description, '', NULL, true, p_hold_id, true,
            CASE WHEN v_hold.source = 'tokens' THEN p_amount + v_released ELSE 0 END)
        LOOP
            IF r.status <> 'ok' THEN
                status := r.status; shown := r.shown; available := r.available;
                hold_captured := v_hold.captured; hold_status := v_hold.status;
                hold_resolved_at := v_hold.resolved_at;
                RETURN NEXT;
                RETURN;
            END IF;
            v_charged := v_charged + r.taken;
            v_trial_only := v_trial_only AND r.category = 'trial';
            status := r.status; number := r.number; balance_after := r.balance_after;
            shown := r.shown; available := r.available; threshold := r.threshold;
            lot_id := r.lot_id; category := r.category; taken := r.taken;
            RETURN NEXT;
        END LOOP;
        INSERT INTO tokens_usagerecord (id, account_id, amount, charged, source, feature,
            description, reference, idempotency_key, entry_id, hold_id, created_at)
        VALUES (p_usage_id, v_account_id, p_amount, v_charged,
            CASE WHEN v_trial_only THEN 'trial' ELSE 'tokens' END, v_hold.feature,
            v_description, v_hold.reference, p_usage_key, p_entry_id, p_hold_id, p_now);
    END IF;
    UPDATE tokens_hold h SET captured = hold_captured, status = hold_status,
        resolved_at = hold_resolved_at
    WHERE h.id = p_hold_id;
    RETURN;
END;
$$;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DEBIT, params=None)
        schema_editor.execute(POSTGRESQL_HOLD, params=None)
        schema_editor.execute(POSTGRESQL_CAPTURE, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION {CAPTURE}; DROP FUNCTION {HOLD};", params=None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {DEBIT};", params=None)
        schema_editor.execute(tokens_0010.POSTGRESQL_DEBIT, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0011_sqlite_ledger_triggers_again")]

    operations = [migrations.RunPython(install, remove)]
