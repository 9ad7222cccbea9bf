"""Small formatting helpers for the pages' templates."""

from __future__ import annotations

from django import template

from catalog.models import BillingPeriod

register = template.Library()

PER_PERIOD = {
    BillingPeriod.MONTHLY: "a month",
    BillingPeriod.YEARLY: "a year",
    BillingPeriod.ONE_TIME: "once",
}


@register.filter
def per_period(billing_period: str) -> str:
    """`monthly` -> "a month", as in "$29.00 a month"."""
    return PER_PERIOD.get(billing_period, "")


@register.filter
def minor_units(amount, places: int) -> int:
    """An amount in the currency's smallest unit (cents), for the purchase page's running
    total: whole numbers add up exactly in JavaScript, decimals would not."""
    return int(amount.scaleb(places))
