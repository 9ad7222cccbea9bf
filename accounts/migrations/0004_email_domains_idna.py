"""Addresses stored before sign-up normalized their domain through IDNA take the form
sign-in now looks them up by (accounts.models.normalize_email): "a@exämple.com" for
"a@xn--exmple-cua.com", "a@example.com" for one with a soft hyphen or a zero-width space in
its domain. One whose new form another user already has, or that grows past 254
characters, is left as it is (staff merge or rename it)."""

from django.db import migrations


def normalize(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    taken = {email.lower() for email in User.objects.values_list("email", flat=True)}
    for user in User.objects.only("email").iterator():
        local, at, domain = user.email.rpartition("@")
        if not at:
            continue
        try:
            normalized = f"{local}@{domain.encode('idna').decode('idna')}".strip()
        except UnicodeError:
            continue
        if normalized == user.email or normalized.lower() in taken or len(normalized) > 254:
            continue
        taken.add(normalized.lower())
        User.objects.filter(pk=user.pk).update(email=normalized)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_emails_normalized")]

    operations = [migrations.RunPython(normalize, migrations.RunPython.noop)]
