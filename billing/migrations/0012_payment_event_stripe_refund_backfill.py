"""The refunds staff made with "Refund at Stripe" before migration 0011 recorded their id
only in the settled events' note ("Refunded at Stripe (re_...) by staff."): it is copied to
`stripe_refund_id`, so that Stripe's charge.refunded of such a payment, held then for a
capture that never comes, is recorded as that refund when staff re-process it."""

import re

from django.db import migrations

# A card payment's refund is `re_...`; a bank debit's (SEPA, ACH: a `py_` charge) `pyr_...`.
NOTE = re.compile(r"Refunded at Stripe \(((?:re|pyr)_[A-Za-z0-9_]+)\) by staff\.")


def staff_refunds_backfill(apps, schema_editor):
    PaymentEvent = apps.get_model("billing", "PaymentEvent")
    settled = PaymentEvent.objects.filter(
        provider="stripe",
        outcome="needs_review",
        stripe_refund_id="",
        handled_note__startswith="Refunded at Stripe (",
    )
    for pk, note in settled.order_by("pk").values_list("pk", "handled_note").iterator():
        found = NOTE.fullmatch(note)
        if found:
            PaymentEvent.objects.filter(pk=pk).update(stripe_refund_id=found.group(1))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_payment_event_stripe_refund_id"),
    ]

    operations = [
        migrations.RunPython(staff_refunds_backfill, migrations.RunPython.noop),
    ]
