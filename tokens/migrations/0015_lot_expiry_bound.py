"""`next_expiry_at`, the lower bound of the soonest expiry of a lot with tokens in it, moves on
like the holds' bound (0014). A lot emptied before it expired left the bound at its expiry,
and the sweep, which visits only accounts with expired tokens to book, never moved it: every
later debit and hold of the account added up its expired lots, for good (about 15 µs of a
0.5 ms debit). Now the debit or hold that adds them up finds the bound again and stores it in
its own UPDATE of the account. An expired lot the sweep has not booked keeps the bound where
it is: the stored balance still counts its tokens.
"""

from importlib import import_module

from django.db import migrations

tokens_0014 = import_module("tokens.migrations.0014_hold_expiry_bound")

FOUND_AGAIN = """    v_next_expiry := v_account.next_expiry_at;
    IF v_next_expiry IS NOT NULL AND v_next_expiry <= p_now THEN
        SELECT COALESCE(SUM(l.remaining) FILTER (WHERE l.expires_at <= p_now), 0),
            MIN(l.expires_at)
        INTO v_expired, v_next_expiry FROM tokens_tokenlot l
        WHERE l.account_id = v_account.id AND l.remaining > 0 AND l.expires_at IS NOT NULL;
    END IF;
"""
READ_BEFORE = """    IF v_account.next_expiry_at IS NOT NULL AND v_account.next_expiry_at <= p_now THEN
        SELECT COALESCE(SUM(l.remaining), 0) INTO v_expired FROM tokens_tokenlot l
        WHERE l.account_id = v_account.id AND l.remaining > 0 AND l.expires_at <= p_now;
    END IF;
"""
DECLARED = "    v_expired bigint := 0;\n"
CHANGES = {DECLARED: DECLARED + "    v_next_expiry timestamptz;\n", READ_BEFORE: FOUND_AGAIN}

POSTGRESQL_DEBIT = tokens_0014.changed(
    tokens_0014.POSTGRESQL_DEBIT,
    {
        **CHANGES,
        "next_hold_expiry_at = v_bound\n": (
            "next_hold_expiry_at = v_bound,\n        next_expiry_at = v_next_expiry\n"
        ),
    },
)
POSTGRESQL_HOLD = tokens_0014.changed(
    tokens_0014.POSTGRESQL_HOLD,
    {
        **CHANGES,
        "next_hold_expiry_at = LEAST(v_bound, p_expires_at)\n": (
            "next_hold_expiry_at = LEAST(v_bound, p_expires_at),\n"
            "        next_expiry_at = v_next_expiry\n"
        ),
    },
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DEBIT, params=None)
        schema_editor.execute(POSTGRESQL_HOLD, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(tokens_0014.POSTGRESQL_DEBIT, params=None)
        schema_editor.execute(tokens_0014.POSTGRESQL_HOLD, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0014_hold_expiry_bound")]

    operations = [migrations.RunPython(install, remove)]
