"""The soonest expiry of an account's active holds (`next_hold_expiry_at`) is a bound that
lets a debit skip reading holds. A capture resolves its hold without moving the bound, so once
that hold's time had passed every later debit, hold and balance of the account read its holds
again, for good. Now `tokens_debit` and `tokens_hold` find the bound again whenever they
read the holds, and store it with the account's own UPDATE: one read per passed bound.

The index on active holds leads with the account, so that read (and the sweep's per-account
minimum) touches only the account's active holds; the sweep reads the whole partial index,
which holds only active holds.
"""

from importlib import import_module

from django.db import migrations, models

tokens_0012 = import_module("tokens.migrations.0012_hold_functions")

FOUND_AGAIN = """    v_held := v_account.held;
    v_bound := v_account.next_hold_expiry_at;
    IF v_bound IS NOT NULL AND v_bound <= p_now THEN
        SELECT COALESCE(SUM(h.amount - h.captured) FILTER (WHERE h.expires_at > p_now), 0),
            MIN(h.expires_at)
        INTO v_held, v_bound FROM tokens_hold h
        WHERE h.account_id = v_account.id AND h.status = 'active' AND h.source = 'tokens';
    END IF;
"""
READ_BEFORE = """    v_held := v_account.held;
    IF v_account.next_hold_expiry_at IS NOT NULL AND v_account.next_hold_expiry_at <= p_now THEN
        SELECT COALESCE(SUM(h.amount - h.captured), 0) INTO v_held FROM tokens_hold h
        WHERE h.account_id = v_account.id AND h.status = 'active' AND h.source = 'tokens'
            AND h.expires_at > p_now;
    END IF;
"""
DECLARED = "    v_held bigint;\n"


def changed(function: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        if function.count(old) != 1:
            raise RuntimeError(f"The function has changed: {old!r} is not there once.")
        function = function.replace(old, new)
    return function


POSTGRESQL_DEBIT = changed(
    tokens_0012.POSTGRESQL_DEBIT,
    {
        DECLARED: DECLARED + "    v_bound timestamptz;\n",
        READ_BEFORE: FOUND_AGAIN,
        "        held = a.held - p_release\n": (
            "        held = a.held - p_release, next_hold_expiry_at = v_bound\n"
        ),
    },
)
POSTGRESQL_HOLD = changed(
    tokens_0012.POSTGRESQL_HOLD,
    {
        DECLARED: DECLARED + "    v_bound timestamptz;\n",
        READ_BEFORE: FOUND_AGAIN,
        "next_hold_expiry_at = LEAST(a.next_hold_expiry_at, p_expires_at)": (
            "next_hold_expiry_at = LEAST(v_bound, p_expires_at)"
        ),
    },
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DEBIT, params=None)
        schema_editor.execute(POSTGRESQL_HOLD, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(tokens_0012.POSTGRESQL_DEBIT, params=None)
        schema_editor.execute(tokens_0012.POSTGRESQL_HOLD, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0013_redundant_indexes_dropped")]

    operations = [
        migrations.RemoveIndex(model_name="hold", name="tokens_hold_active"),
        migrations.AddIndex(
            model_name="hold",
            index=models.Index(
                condition=models.Q(status="active"),
                fields=["account", "expires_at"],
                name="tokens_hold_account_active",
            ),
        ),
        migrations.RunPython(install, remove),
    ]
