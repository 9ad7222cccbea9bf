"""Cancelled invoices by their Stripe session's expiry, for reconcile_purchases' hourly look
for sessions not yet confirmed expired (cancelled_sessions_unconfirmed): without it each
run read the whole invoice table (200,000 cancelled and 200,000 paid invoices: 8,087 pages,
76-103 ms, twice a run). Partial: only cancelled invoices with a session time are in it.
Built by common.migration_indexes: CONCURRENTLY on PostgreSQL without the lock and
statement timeouts, a plain CREATE INDEX on SQLite."""

from django.db import migrations, models
from django.db.models import Q

from common.migration_indexes import index_create, index_drop

NAME = "billing_cancelled_session"
WHERE = "status = 'cancelled' AND stripe_session_expires_at IS NOT NULL"


def create(apps, schema_editor):
    index_create(schema_editor, NAME, "billing_invoice", "stripe_session_expires_at", where=WHERE)


def drop(apps, schema_editor):
    index_drop(schema_editor, NAME)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("billing", "0006_payment_event_handled"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="invoice",
                    index=models.Index(
                        condition=Q(status="cancelled", stripe_session_expires_at__isnull=False),
                        fields=["stripe_session_expires_at"],
                        name=NAME,
                    ),
                )
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
