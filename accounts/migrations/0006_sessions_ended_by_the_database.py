"""`sessions_ended` kept by the database, whoever writes the user: each deactivation (an
active user's `is_active` becoming false) raises it, and nothing lowers it. The app raised it
only on its own deactivation paths (the admin's action and change form), so a user
deactivated with psql, a shell's `save()` or a data migration kept every refresh token and
signed-in page session once reactivated; and saving a User read before a deactivation
wrote the old count back, which revived them too.

Users inactive when this runs may have been deactivated behind the app's back: their count is
raised once, so that what they were signed in with before stays ended once they are active
again (for those the app deactivated it was ended already; raising it again changes nothing
they can use).

PostgreSQL sets the row's new value before it is written; SQLite, whose triggers cannot,
corrects the row just written (recursive triggers are off: the correction fires nothing).
SQLite drops a table's triggers when a migration rebuilds the table: a later migration that
alters accounts_user must install SQLITE_INSTALL again (accounts/tests/test_models.py checks
the rule once every migration has run, on SQLite too)."""

from django.db import migrations

POSTGRESQL_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION accounts_user_sessions_ended_keep() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.sessions_ended := GREATEST(
            NEW.sessions_ended,
            OLD.sessions_ended + CASE WHEN OLD.is_active AND NOT NEW.is_active THEN 1 ELSE 0 END
        );
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER accounts_user_sessions_ended BEFORE UPDATE ON accounts_user "
    "FOR EACH ROW EXECUTE FUNCTION accounts_user_sessions_ended_keep()",
]
POSTGRESQL_REMOVE = [
    "DROP TRIGGER IF EXISTS accounts_user_sessions_ended ON accounts_user",
    "DROP FUNCTION IF EXISTS accounts_user_sessions_ended_keep()",
]
SQLITE_INSTALL = [
    "CREATE TRIGGER IF NOT EXISTS accounts_user_sessions_ended AFTER UPDATE ON accounts_user "
    "WHEN (OLD.is_active AND NOT NEW.is_active) OR NEW.sessions_ended < OLD.sessions_ended "
    "BEGIN UPDATE accounts_user SET sessions_ended = max(NEW.sessions_ended, "
    "OLD.sessions_ended + (OLD.is_active AND NOT NEW.is_active)) WHERE id = NEW.id; END",
]
SQLITE_REMOVE = ["DROP TRIGGER IF EXISTS accounts_user_sessions_ended"]
INACTIVE_ENDED = "UPDATE accounts_user SET sessions_ended = sessions_ended + 1 WHERE NOT is_active"


def install(apps, schema_editor):
    sqlite = schema_editor.connection.vendor == "sqlite"
    for statement in SQLITE_INSTALL if sqlite else POSTGRESQL_INSTALL:
        schema_editor.execute(statement, params=None)
    schema_editor.execute(INACTIVE_ENDED, params=None)


def remove(apps, schema_editor):
    sqlite = schema_editor.connection.vendor == "sqlite"
    for statement in SQLITE_REMOVE if sqlite else POSTGRESQL_REMOVE:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_user_sessions_ended")]

    operations = [migrations.RunPython(install, remove)]
