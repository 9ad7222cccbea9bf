"""Creates the default currency named by the DEFAULT_CURRENCY setting."""

from django.conf import settings
from django.db import migrations


def create_default_currency(apps, schema_editor):
    from catalog.currencies import currency_defaults

    Currency = apps.get_model("catalog", "Currency")
    if Currency.objects.filter(is_default=True).exists():
        return
    code = settings.DEFAULT_CURRENCY
    Currency.objects.update_or_create(
        code=code, defaults={**currency_defaults(code), "is_default": True}
    )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunPython(create_default_currency, migrations.RunPython.noop),
    ]
