"""System checks: `manage.py check --deploy` warns while test payments are on; `migrate`
(so before every start: compose's `migrate` service, `make serve`, `make run`) and
`manage.py check --database default` refuse a default currency whose places are not the ones
Stripe counts it in. That check reads the database, so a plain `check` skips it."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Model

from catalog.currencies import stripe_places


def payments_test_mode_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if not settings.PAYMENTS_TEST_MODE:
        return []
    return [
        checks.Warning(
            "PAYMENTS_TEST_MODE is on: anyone signed in can mark their invoices paid and get "
            "tokens without paying.",
            hint="Unset PAYMENTS_TEST_MODE (it is for `make run` and demos only).",
            id="billing.W001",
        )
    ]


# The data migration that gives the default currency Stripe's places where it safely can.
CORRECTION = ("billing", "0016_default_currency_places")
ITEM_MODELS = ("TokenBundle", "AddOn", "Plan")
NAMED_AT_MOST = 3


def places_blockers(
    currency_id: object,
    stored: int,
    places: int,
    *,
    invoice_model: type[Model] | None,
    item_models: Iterable[type[Model]],
) -> list[str]:
    """What keeps the currency from going from `stored` places to `places` without changing
    the meaning of anything sold or priced in it: an invoice made at the stored places
    (Stripe took that many minor units for it; its reconciliation and any open Checkout
    Session would no longer agree), or a price the new places cannot hold (500.50 at 0).
    Models are passed in, so the migration can pass its historical ones; only columns the
    first migrations made are read, so the check runs before any later one is applied."""
    blockers = []
    if places > 2:
        blockers.append("prices hold at most 2 decimal places")
    if invoice_model is not None and invoice_model.objects.filter(currency_id=currency_id).exists():
        blockers.append(f"invoices were made at {stored} places")
    step = Decimal(1).scaleb(-min(places, 2))
    uneven = [
        f"{name} ({price})"
        for model in item_models
        for name, price in model.objects.filter(currency_id=currency_id).values_list(
            "name", "price"
        )
        if price != price.quantize(step)
    ]
    if uneven:
        blockers.append(
            f"prices with more than {places} places: {', '.join(uneven[:NAMED_AT_MOST])}"
        )
    return blockers


def _factor(stored: int, places: int) -> str:
    if stored > places:
        return f"{10 ** (stored - places)} times its price"
    return f"1/{10 ** (places - stored)} of its price"


def _places_errors(alias: str) -> list[checks.CheckMessage]:
    connection = connections[alias]
    tables = set(connection.introspection.table_names())
    Currency = apps.get_model("catalog", "Currency")
    if Currency._meta.db_table not in tables:
        return []
    found = Currency.objects.using(alias).filter(is_default=True)
    default = found.values_list("id", "code", "decimal_places").first()
    if default is None:
        return []
    currency_id, code, stored = default
    places = stripe_places(code)
    if stored == places:
        return []
    Invoice = apps.get_model("billing", "Invoice")
    blockers = places_blockers(
        currency_id,
        stored,
        places,
        invoice_model=Invoice if Invoice._meta.db_table in tables else None,
        item_models=[apps.get_model("catalog", name) for name in ITEM_MODELS],
    )
    if not blockers and CORRECTION not in MigrationRecorder(connection).applied_migrations():
        return []
    if places > 2:
        hint = f"Prices hold at most 2 decimal places: this service cannot sell in {code}."
    else:
        before = (
            f"It was not corrected, for {'; '.join(blockers)}: refund what was charged "
            "wrongly and correct those prices, then "
            if blockers
            else ""
        )
        step = f"set the decimal_places of {code} in catalog_currency to {places}"
        hint = f"{before}{step} (the admin shows them read-only)."
        hint = hint[0].upper() + hint[1:]
    return [
        checks.Error(
            f"The default currency {code} has {stored} decimal places, and Stripe counts {code} "
            f"in {places}: every charge is {_factor(stored, places)}.",
            hint=hint,
            obj=Currency,
            id="billing.E001",
        )
    ]


def default_currency_places_check(
    app_configs=None, databases=None, **kwargs
) -> list[checks.CheckMessage]:
    """A deployment migrated before the default currency was created with Stripe's places
    (VND, CLP, XOF… at 2 instead of 0, KWD at 2 instead of 3) sent every price to Stripe
    multiplied by the wrong power of ten; the admin cannot change places. Silent while the
    next migration is about to correct it."""
    errors: list[checks.CheckMessage] = []
    for alias in databases or ():
        errors.extend(_places_errors(alias))
    return errors


def register_checks() -> None:
    checks.register(payments_test_mode_check, checks.Tags.security, deploy=True)
    checks.register(default_currency_places_check, checks.Tags.database)
