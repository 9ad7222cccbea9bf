"""The default currency gets the decimal places Stripe counts it in, where that changes the
meaning of nothing sold or priced.

Before DEFAULT_CURRENCY of Stripe's other zero-decimal currencies (VND, CLP, XOF…) was created
with 0 places (catalog 0002), it was created with 2, and every price went to Stripe multiplied by 100:
a bundle of 50000 VND was charged 5000000. While no invoice was made in it and every price is
whole, its places become 0: 50000.00 VND is then 50000 VND, what the customer was shown. Else
it is left as it is, and the system check billing.E001 stops `migrate`, naming what to do."""

from django.db import migrations


def correct_default_currency_places(apps, schema_editor):
    from billing.checks import ITEM_MODELS, places_blockers
    from catalog.currencies import stripe_places

    Currency = apps.get_model("catalog", "Currency")
    currency = Currency.objects.filter(is_default=True).first()
    if currency is None:
        return
    places = stripe_places(currency.code)
    if currency.decimal_places == places:
        return
    blockers = places_blockers(
        currency.pk,
        currency.decimal_places,
        places,
        invoice_model=apps.get_model("billing", "Invoice"),
        item_models=[apps.get_model("catalog", name) for name in ITEM_MODELS],
    )
    if not blockers:
        Currency.objects.filter(pk=currency.pk).update(decimal_places=places)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0015_pending_items_index"),
        ("catalog", "0006_description_at_most_5000"),
    ]

    operations = [
        migrations.RunPython(correct_default_currency_places, migrations.RunPython.noop),
    ]
