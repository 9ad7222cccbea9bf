"""A hold under an unlimited plan stores the expiry bounds it found again, as every other hold
and debit does (0014, 0015). `tokens_hold` returned from its covered branch before the
account's UPDATE, so after a bound had passed, each later debit, hold and balance of a
covered account added up its holds or lots again until some uncovered write stored it;
SQLite's twin (`_hold_python`) stored them. Only the bounds are written: a covered hold
reserves nothing.
"""

from importlib import import_module

from django.db import migrations

tokens_0014 = import_module("tokens.migrations.0014_hold_expiry_bound")
tokens_0015 = import_module("tokens.migrations.0015_lot_expiry_bound")

COVERED = """    IF v_covered THEN
        RETURN QUERY SELECT 'ok'::text, v_account.id, 'subscription'::varchar, v_shown,
"""
COVERED_STORING_BOUNDS = """    IF v_covered THEN
        UPDATE tokens_tokenaccount a SET next_hold_expiry_at = v_bound,
            next_expiry_at = v_next_expiry
        WHERE a.id = v_account.id
            AND (a.next_hold_expiry_at, a.next_expiry_at)
                IS DISTINCT FROM (v_bound, v_next_expiry);
        RETURN QUERY SELECT 'ok'::text, v_account.id, 'subscription'::varchar, v_shown,
"""
POSTGRESQL_HOLD = tokens_0014.changed(
    tokens_0015.POSTGRESQL_HOLD, {COVERED: COVERED_STORING_BOUNDS}
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_HOLD, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(tokens_0015.POSTGRESQL_HOLD, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0015_lot_expiry_bound")]

    operations = [migrations.RunPython(install, remove)]
