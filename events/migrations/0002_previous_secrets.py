"""Every secret rotated out in the last 24 h signs, not only the last one: the one previous
secret becomes a list."""

from django.db import migrations, models
from django.utils import timezone


def keep_the_previous_secret(apps, schema_editor):
    WebhookEndpoint = apps.get_model("events", "WebhookEndpoint")
    signing = WebhookEndpoint.objects.exclude(previous_secret="").filter(
        previous_secret_until__gt=timezone.now()
    )
    for endpoint in signing:
        endpoint.previous_secrets = [
            {"secret": endpoint.previous_secret, "until": endpoint.previous_secret_until.isoformat()}
        ]
        endpoint.save(update_fields=["previous_secrets"])


class Migration(migrations.Migration):
    dependencies = [("events", "0001_outbox")]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="previous_secrets",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Secrets rotated out, [{secret, until}]: each signs beside the current "
                "one for 24 h.",
            ),
        ),
        migrations.RunPython(keep_the_previous_secret, migrations.RunPython.noop),
        migrations.RemoveField(model_name="webhookendpoint", name="previous_secret"),
        migrations.RemoveField(model_name="webhookendpoint", name="previous_secret_until"),
    ]
