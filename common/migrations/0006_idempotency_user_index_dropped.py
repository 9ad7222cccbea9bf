"""The user's own index goes: the unique (user, key) index leads with it, and every idempotent
request inserts into one index fewer. The index is dropped by name, so that SQLite does not
rebuild the table (as an AlterField would)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEX = "common_idempotencyrecord_user_id_2def651a"


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0005_leases"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="user",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                )
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    f"CREATE INDEX {INDEX} ON common_idempotencyrecord (user_id)",
                )
            ],
        )
    ]
