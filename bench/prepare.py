"""Benchmark data, created inside the benchmark database by `bench/run.py`."""

from __future__ import annotations

from decimal import Decimal

from django.core.management import call_command

from catalog.models import Currency, TokenBundle


def catalog(*, bundles: int) -> dict:
    """The demo catalog, plus generated bundles up to `bundles` active ones."""
    call_command("seed_demo", verbosity=0)
    currency = Currency.objects.get(is_default=True)
    missing = bundles - TokenBundle.objects.filter(is_active=True).count()
    TokenBundle.objects.bulk_create(
        TokenBundle(
            name=f"Generated {index}",
            token_amount=100 + index,
            price=Decimal(10 + index),
            currency=currency,
            sort_order=100 + index,
        )
        for index in range(missing)
    )
    return {"active_bundles": TokenBundle.objects.filter(is_active=True).count()}
