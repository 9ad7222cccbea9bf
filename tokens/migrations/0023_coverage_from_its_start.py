"""An unlimited plan covers usage from the start of a period it paid for, not from its
payment. `tokens_use` and `tokens_hold` read only `unlimited_until`, the end of the latest
paid period: a period paid ahead (a metered plan made unlimited, paid again early, starts
when the metered period ends) covered every usage and hold from its payment. Now a period
that has started, not ended and not been refunded must cover the instant; `unlimited_until`
still answers no without a query (tokens.ledger.core.covered is the SQLite twin).
"""

from importlib import import_module

from django.db import migrations

tokens_0010 = import_module("tokens.migrations.0010_ledger_functions")
tokens_0014 = import_module("tokens.migrations.0014_hold_expiry_bound")
tokens_0016 = import_module("tokens.migrations.0016_covered_hold_keeps_bounds")


def _running(account: str) -> str:
    return f"""EXISTS (
        SELECT 1 FROM tokens_unlimitedcoverage c
        WHERE c.account_id = {account} AND c.revoked_at IS NULL AND c.starts_at <= p_now
            AND (c.ends_at IS NULL OR c.ends_at > p_now))"""


USE_COVERED = "IF v_until IS NOT NULL AND v_until > p_now AND p_hold_id IS NULL THEN"
HOLD_COVERED = (
    "v_covered := v_account.unlimited_until IS NOT NULL AND v_account.unlimited_until > p_now;"
)

POSTGRESQL_USE = tokens_0014.changed(
    tokens_0010.POSTGRESQL_USE,
    {
        USE_COVERED: (
            "IF v_until IS NOT NULL AND v_until > p_now AND p_hold_id IS NULL\n"
            f"        AND {_running('v_account_id')} THEN"
        )
    },
)
POSTGRESQL_HOLD = tokens_0014.changed(
    tokens_0016.POSTGRESQL_HOLD,
    {
        HOLD_COVERED: (
            "v_covered := v_account.unlimited_until IS NOT NULL"
            " AND v_account.unlimited_until > p_now\n"
            f"        AND {_running('v_account.id')};"
        )
    },
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_USE, params=None)
        schema_editor.execute(POSTGRESQL_HOLD, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(tokens_0010.POSTGRESQL_USE, params=None)
        schema_editor.execute(tokens_0016.POSTGRESQL_HOLD, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0022_usage_by_time_index")]

    operations = [migrations.RunPython(install, remove)]
