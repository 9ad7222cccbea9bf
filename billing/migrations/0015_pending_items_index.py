"""The pending items of each kind (plans, add-ons, bundles) by their invoice, for
reconcile_purchases' hourly paid_invoices_incomplete (paid invoices with an item still
pending: a capture whose fan-out did not finish). Without them each run read every paid
invoice and every item. Partial: only pending items are in them (those of invoices still
waiting for their payment, and the few left behind). Built by common.migration_indexes:
CONCURRENTLY on PostgreSQL without the lock and statement timeouts, a plain CREATE INDEX on
SQLite."""

from django.db import migrations, models
from django.db.models import Q

from common.migration_indexes import index_create, index_drop

INDEXES = {
    "billing_plan_pending": ("subscription", "billing_subscription"),
    "billing_add_on_pending": ("addonsubscription", "billing_addonsubscription"),
    "billing_purchase_pending": ("tokenbundlepurchase", "billing_tokenbundlepurchase"),
}


def create(apps, schema_editor):
    for name, (_, table) in INDEXES.items():
        index_create(schema_editor, name, table, "invoice_id", where="status = 'pending'")


def drop(apps, schema_editor):
    for name in INDEXES:
        index_drop(schema_editor, name)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("billing", "0014_stripe_payments_by_time_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name=model,
                    index=models.Index(
                        condition=Q(status="pending"), fields=["invoice"], name=name
                    ),
                )
                for name, (model, _) in INDEXES.items()
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
