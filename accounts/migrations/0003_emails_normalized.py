"""Addresses stored before sign-up normalized them with NFKC take the form sign-in now looks
them up by (accounts.models.normalize_email). One whose normalized form another user
already has, or that grows past 254 characters, is left as it is (staff merge or rename
it); sign-in finds it only as it was typed."""

import unicodedata

from django.db import migrations


def normalize(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    taken = {email.lower() for email in User.objects.values_list("email", flat=True)}
    for user in User.objects.only("email").iterator():
        compatible = unicodedata.normalize("NFKC", user.email.strip())
        normalized = unicodedata.normalize("NFKC", compatible.lower())
        if normalized == user.email or normalized.lower() in taken or len(normalized) > 254:
            continue
        taken.add(normalized.lower())
        User.objects.filter(pk=user.pk).update(email=normalized)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_api_keys")]

    operations = [migrations.RunPython(normalize, migrations.RunPython.noop)]
