"""Idempotency records are written with the work they answer, in its transaction.

There is no claim in flight any more, so the status and its timestamp go, and every record
has an answer. The table is logged again: its rows now commit with the ledger's or the
invoice's, so they must survive a crash exactly as those do (docs/decisions.md).
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import migrations, models

TABLE = "common_idempotencyrecord"


def forget_claims_in_flight(apps, schema_editor):
    record = apps.get_model("common", "IdempotencyRecord")
    record.objects.filter(response_status__isnull=True).delete()


def set_logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET LOGGED", params=None)


def set_unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET UNLOGGED", params=None)


class Migration(migrations.Migration):
    dependencies = [("common", "0003_idempotency_user_without_constraint")]

    operations = [
        migrations.RunPython(forget_claims_in_flight, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="idempotencyrecord", name="common_idempotency_completed_has_response"
        ),
        migrations.RemoveField(model_name="idempotencyrecord", name="status"),
        migrations.RemoveField(model_name="idempotencyrecord", name="updated_at"),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_status",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_body",
            field=models.JSONField(encoder=DjangoJSONEncoder),
        ),
        migrations.RunPython(set_logged, set_unlogged),
    ]
