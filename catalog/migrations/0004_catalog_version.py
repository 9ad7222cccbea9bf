"""The catalog's version: one row, raised by the database on every write to a table the
public listings show (currencies, bundles, add-ons, plans), whoever writes: the services,
the admin, a data migration, a bulk UPDATE or psql: once per row written (a statement that
matches no row changes nothing), and once per TRUNCATE on PostgreSQL. A write that finds
the row gone makes it again under a new epoch."""

from django.db import migrations, models

TABLES = ("catalog_currency", "catalog_tokenbundle", "catalog_addon", "catalog_plan")
BUMP = "UPDATE catalog_catalogversion SET version = version + 1 WHERE id = 1"
POSTGRESQL_REMAKE = (
    "INSERT INTO catalog_catalogversion (id, epoch, version) "
    "VALUES (1, md5(random()::text || clock_timestamp()::text), 1) ON CONFLICT (id) DO NOTHING"
)
SQLITE_REMAKE = (
    "INSERT OR IGNORE INTO catalog_catalogversion (id, epoch, version) "
    "VALUES (1, lower(hex(randomblob(16))), 1)"
)
SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")

POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION catalog_version_bump() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {BUMP};
        IF NOT FOUND THEN
            {POSTGRESQL_REMAKE};
        END IF;
        RETURN NULL;
    END
    $$
    """,
    *(
        f"CREATE TRIGGER {table}_version AFTER INSERT OR UPDATE OR DELETE "
        f"ON {table} FOR EACH ROW EXECUTE FUNCTION catalog_version_bump()"
        for table in TABLES
    ),
    *(
        f"CREATE TRIGGER {table}_version_truncate AFTER TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump()"
        for table in TABLES
    ),
]
POSTGRESQL_REMOVE = [
    *(f"DROP TRIGGER IF EXISTS {table}_version ON {table}" for table in TABLES),
    *(f"DROP TRIGGER IF EXISTS {table}_version_truncate ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS catalog_version_bump()",
]
SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_version_{event.lower()} AFTER {event} ON {table} "
    f"BEGIN {BUMP}; {SQLITE_REMAKE}; END"
    for table in TABLES
    for event in SQLITE_EVENTS
]
SQLITE_REMOVE = [
    f"DROP TRIGGER IF EXISTS {table}_version_{event.lower()}"
    for table in TABLES
    for event in SQLITE_EVENTS
]


def install(apps, schema_editor):
    sqlite = schema_editor.connection.vendor == "sqlite"
    for statement in SQLITE_INSTALL if sqlite else POSTGRESQL_INSTALL:
        schema_editor.execute(statement, params=None)
    schema_editor.execute(SQLITE_REMAKE if sqlite else POSTGRESQL_REMAKE, params=None)


def remove(apps, schema_editor):
    sqlite = schema_editor.connection.vendor == "sqlite"
    for statement in SQLITE_REMOVE if sqlite else POSTGRESQL_REMOVE:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_lot_expiry_and_plan_usage")]

    operations = [
        migrations.CreateModel(
            name="CatalogVersion",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("epoch", models.CharField(max_length=32)),
                ("version", models.BigIntegerField(default=1)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(id=1), name="catalog_version_single_row"
                    )
                ],
            },
        ),
        migrations.RunPython(install, remove),
    ]
