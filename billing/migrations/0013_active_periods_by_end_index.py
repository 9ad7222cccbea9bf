"""Active subscriptions and add-ons by their end, for the expiry sweep run each minute
(subscriptions_expire: active and `expires_at` passed, read in pages of ORDER BY id LIMIT
500). Without them each run walked the primary key of the whole table: most periods have
ended (expired, their end in the past), so PostgreSQL, taking "active" and "ended" as
unrelated, expected thousands of rows where there are a few. Partial: only active periods
are in them. Built by common.migration_indexes: CONCURRENTLY on PostgreSQL without the lock
and statement timeouts, a plain CREATE INDEX on SQLite."""

from django.db import migrations, models
from django.db.models import Q

from common.migration_indexes import index_create, index_drop

INDEXES = {
    "billing_plan_active_end": ("subscription", "billing_subscription"),
    "billing_add_on_active_end": ("addonsubscription", "billing_addonsubscription"),
}


def create(apps, schema_editor):
    for name, (_, table) in INDEXES.items():
        index_create(schema_editor, name, table, "expires_at", where="status = 'active'")


def drop(apps, schema_editor):
    for name in INDEXES:
        index_drop(schema_editor, name)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("billing", "0012_payment_event_stripe_refund_backfill"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name=model,
                    index=models.Index(
                        condition=Q(status="active"), fields=["expires_at"], name=name
                    ),
                )
                for name, (model, _) in INDEXES.items()
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
