"""A capture whose hold counted on tokens that are gone (a lot that expired, or one a refund
took back) takes what the account has, up to its amount, and is refused only when nothing at
all is left (docs/decisions.md, "Holds: a capture when the holds reserve more than there
is"). `tokens_debit` let a capture take only the balance less what the other active holds
reserve, and refused it when that was not above zero: with 40 tokens left under two holds of
50, both captures were 402 and the 40 tokens paid for neither.

Only a capture (`p_partial` with `p_hold_id`) changes. A capture takes less than its amount
only when the holds reserve more than the balance: while they do not, what is available to it
(the balance less the other holds' reservations) covers its whole hold.
"""

from importlib import import_module

from django.db import migrations

tokens_0014 = import_module("tokens.migrations.0014_hold_expiry_bound")
tokens_0015 = import_module("tokens.migrations.0015_lot_expiry_bound")

SHORT_BEFORE = """        IF p_partial AND v_available > 0 THEN
            p_amount := v_available;
        ELSE
"""
SHORT_NOW = """        -- Short, a capture takes what there is (never below zero): the holds reserve more
        -- than the balance, so not every one can be paid, and the work done is charged first.
        IF p_partial AND p_hold_id IS NOT NULL AND v_shown > 0 THEN
            p_amount := LEAST(p_amount, v_shown);
        ELSIF p_partial AND v_available > 0 THEN
            p_amount := v_available;
        ELSE
"""

POSTGRESQL_DEBIT = tokens_0014.changed(tokens_0015.POSTGRESQL_DEBIT, {SHORT_BEFORE: SHORT_NOW})


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DEBIT, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(tokens_0015.POSTGRESQL_DEBIT, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0016_covered_hold_keeps_bounds")]

    operations = [migrations.RunPython(install, remove)]
