"""Invoices paid through another provider than Stripe by their Stripe session's expiry, for
reconcile_purchases' hourly look for sessions not yet confirmed expired (sessions_unconfirmed),
which asks Stripe again about those a capture could not end: without it each run read every
paid invoice. Partial: only invoices paid (or refunded) through another provider with a
session time are in it. Built by common.migration_indexes: CONCURRENTLY on PostgreSQL
without the lock and statement timeouts, a plain CREATE INDEX on SQLite."""

from django.db import migrations, models
from django.db.models import Q

from common.migration_indexes import index_create, index_drop

NAME = "billing_paid_elsewhere_session"
WHERE = (
    "status IN ('paid', 'refunded') AND NOT provider = 'stripe' "
    "AND stripe_session_expires_at IS NOT NULL"
)


def create(apps, schema_editor):
    index_create(schema_editor, NAME, "billing_invoice", "stripe_session_expires_at", where=WHERE)


def drop(apps, schema_editor):
    index_drop(schema_editor, NAME)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("billing", "0008_invoices_by_time_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="invoice",
                    index=models.Index(
                        condition=Q(
                            Q(status__in=["paid", "refunded"]),
                            ~Q(provider="stripe"),
                            stripe_session_expires_at__isnull=False,
                        ),
                        fields=["stripe_session_expires_at"],
                        name=NAME,
                    ),
                )
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
