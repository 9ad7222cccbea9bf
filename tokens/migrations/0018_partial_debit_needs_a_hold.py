"""`tokens_debit` takes less than asked only for a capture (`p_partial` with `p_hold_id`), as
0017 decided. Its older branch for `p_partial` without a hold (take what is available when
that is above zero) is gone: no caller reaches it (`tokens_capture` always names its hold,
`tokens_use` and `ledger_debit` pass `p_partial` false), and with a hold it could never be
taken, since what is available to a capture is above zero only when the balance is. A
future caller asking for a partial debit without a hold is refused (402), never silently
charged less.
"""

from importlib import import_module

from django.db import migrations

tokens_0014 = import_module("tokens.migrations.0014_hold_expiry_bound")
tokens_0017 = import_module("tokens.migrations.0017_capture_short_takes_what_is_left")

WITHOUT_A_HOLD = """        ELSIF p_partial AND v_available > 0 THEN
            p_amount := v_available;
"""

POSTGRESQL_DEBIT = tokens_0014.changed(tokens_0017.POSTGRESQL_DEBIT, {WITHOUT_A_HOLD: ""})


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DEBIT, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(tokens_0017.POSTGRESQL_DEBIT, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0017_capture_short_takes_what_is_left")]

    operations = [migrations.RunPython(install, remove)]
