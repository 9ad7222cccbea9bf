"""Invoices paid through Stripe by their payment's time, for reconcile_purchases' hourly
paid_invoices_verify (paid through Stripe in the last --verify-paid-within, 24 h), which
without it read the whole invoice table each run (a parallel seq scan: no index led with
`paid_at`). Partial: only invoices paid through Stripe are in it. Built by
common.migration_indexes: CONCURRENTLY on PostgreSQL without the lock and statement
timeouts, a plain CREATE INDEX on SQLite."""

from django.db import migrations, models
from django.db.models import Q

from common.migration_indexes import index_create, index_drop

NAME = "billing_invoice_stripe_paid"
WHERE = "status = 'paid' AND provider = 'stripe'"


def create(apps, schema_editor):
    index_create(schema_editor, NAME, "billing_invoice", "paid_at", where=WHERE)


def drop(apps, schema_editor):
    index_drop(schema_editor, NAME)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("billing", "0013_active_periods_by_end_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="invoice",
                    index=models.Index(
                        condition=Q(status="paid", provider="stripe"),
                        fields=["paid_at"],
                        name=NAME,
                    ),
                )
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
