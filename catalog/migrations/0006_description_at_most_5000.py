"""A description holds at most 5000 characters, as the staff API takes: the admin took any
length, and a client reading such an item and writing it back got a 400 on its own data.

A description already longer is cut to 5000 characters (surrounding whitespace trimmed, as
the API and the admin trim), and its item's version raised, so a client holding the old
text gets a 409 instead of overwriting the cut one unknowingly.

SQLite adds a CHECK by copying the table, and the copy has no triggers: the catalog
version's triggers (migration 0004) are made again there."""

import importlib

import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Length

LIMIT = 5000
MODELS = ("TokenBundle", "AddOn", "Plan")


def cut_longer_descriptions(apps, schema_editor):
    for name in MODELS:
        model = apps.get_model("catalog", name)
        longer = model.objects.annotate(length=Length("description")).filter(length__gt=LIMIT)
        for item in longer.only("pk", "description"):
            model.objects.filter(pk=item.pk).update(
                description=item.description[:LIMIT].strip(), version=F("version") + 1
            )


def version_triggers_again_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    version = importlib.import_module("catalog.migrations.0004_catalog_version")
    for statement in version.SQLITE_INSTALL:
        schema_editor.execute(statement, params=None)


def check(model: str) -> migrations.AddConstraint:
    return migrations.AddConstraint(
        model_name=model,
        constraint=models.CheckConstraint(
            condition=models.Q(
                django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("description"), LIMIT
                )
            ),
            name=f"catalog_{model}_description_at_most_5000",
        ),
    )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_catalog_version_at_commit")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, version_triggers_again_on_sqlite),
        migrations.RunPython(cut_longer_descriptions, migrations.RunPython.noop),
        *(
            migrations.AlterField(
                model_name=model,
                name="description",
                field=models.TextField(blank=True, default="", max_length=LIMIT),
            )
            for model in ("addon", "plan", "tokenbundle")
        ),
        *(check(model) for model in ("addon", "plan", "tokenbundle")),
        migrations.RunPython(version_triggers_again_on_sqlite, migrations.RunPython.noop),
    ]
