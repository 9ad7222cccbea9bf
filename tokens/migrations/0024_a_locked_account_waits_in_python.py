"""`tokens_debit`, `tokens_use`, `tokens_hold` and `tokens_capture` no longer wait for the
account's row lock: they take it only when it is free (SKIP LOCKED; a lock this transaction
holds already is free to it) and otherwise answer `locked`, having done nothing. Their caller
then takes the lock itself, waiting for the writer that holds it, reads the clock once it is
granted and calls again (tokens.ledger.waits).

They decide at `p_now`, the time Python read before calling. A call that waited for another
writer's lock across a lot's `expires_at` spent that lot, or counted it as available for a
hold, although every balance read meanwhile had shown it gone; the clock read after the lock
is the one every reader saw. A wait costs two statements more (the lock, the call again); the
common case none.
"""

from importlib import import_module

from django.db import migrations

tokens_0012 = import_module("tokens.migrations.0012_hold_functions")
tokens_0014 = import_module("tokens.migrations.0014_hold_expiry_bound")
tokens_0018 = import_module("tokens.migrations.0018_partial_debit_needs_a_hold")
tokens_0023 = import_module("tokens.migrations.0023_coverage_from_its_start")

LOCKED_ELSEWHERE = """    -- Another writer holds the account: the caller waits for it and asks
    -- again at the time the lock is granted (tokens/migrations/0024).
    IF NOT FOUND AND EXISTS (
        SELECT 1 FROM tokens_tokenaccount a WHERE a.user_id = p_user_id) THEN
        status := 'locked';
        RETURN NEXT;
        RETURN;
    END IF;
"""
WHOLE_ROW = (
    "    SELECT * INTO v_account FROM tokens_tokenaccount a"
    " WHERE a.user_id = p_user_id FOR UPDATE;\n"
)
WHOLE_ROW_IF_FREE = {
    WHOLE_ROW: WHOLE_ROW.replace("FOR UPDATE;", "FOR UPDATE SKIP LOCKED;") + LOCKED_ELSEWHERE
}
ITS_ID = "    FROM tokens_tokenaccount a WHERE a.user_id = p_user_id FOR UPDATE;\n"
ITS_ID_FOR_CAPTURE = "    WHERE a.user_id = p_user_id FOR UPDATE;\n    IF v_account_id"

POSTGRESQL_DEBIT = tokens_0014.changed(tokens_0018.POSTGRESQL_DEBIT, WHOLE_ROW_IF_FREE)
POSTGRESQL_HOLD = tokens_0014.changed(tokens_0023.POSTGRESQL_HOLD, WHOLE_ROW_IF_FREE)
POSTGRESQL_USE = tokens_0014.changed(
    tokens_0023.POSTGRESQL_USE,
    {ITS_ID: ITS_ID.replace("FOR UPDATE;", "FOR UPDATE SKIP LOCKED;") + LOCKED_ELSEWHERE},
)
POSTGRESQL_CAPTURE = tokens_0014.changed(
    tokens_0012.POSTGRESQL_CAPTURE,
    {
        ITS_ID_FOR_CAPTURE: (
            "    WHERE a.user_id = p_user_id FOR UPDATE SKIP LOCKED;\n"
            + LOCKED_ELSEWHERE
            + "    IF v_account_id"
        )
    },
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for function in (POSTGRESQL_DEBIT, POSTGRESQL_USE, POSTGRESQL_HOLD, POSTGRESQL_CAPTURE):
            schema_editor.execute(function, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for function in (
            tokens_0018.POSTGRESQL_DEBIT,
            tokens_0023.POSTGRESQL_USE,
            tokens_0023.POSTGRESQL_HOLD,
            tokens_0012.POSTGRESQL_CAPTURE,
        ):
            schema_editor.execute(function, params=None)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0023_coverage_from_its_start")]

    operations = [migrations.RunPython(install, remove)]
