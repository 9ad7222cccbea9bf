"""Money in templates, written as the API writes it: with the currency's places."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from common.api.fields import money_text

register = template.Library()


@register.filter
def places(amount: Decimal, currency: Any) -> str:
    """`500` for JPY, `5.00` for USD: the amount a database column of two places holds,
    written with the currency's own places (money_text). `currency` is a catalog Currency."""
    return money_text(amount, currency.decimal_places)


@register.filter
def symbol_prefix(currency: Any) -> str:
    """What is written before an amount: `$`, `€`, `¥`, `CA$`, or `CHF ` with a space when
    the symbol is letters (a code such as CHF or VND, or `kr`), which would otherwise run
    into the digits (`CHF45.00`, `VND50000`). The purchase page's script prefixes its
    running total with this too, so the page says the same before and after choosing."""
    symbol = currency.symbol
    return f"{symbol} " if len(symbol) >= 2 and symbol.isalpha() else symbol


@register.filter
def money(amount: Decimal, currency: Any) -> str:
    """`¥500`, `$5.00`, `CHF 5.00`: the currency's symbol and the amount in its places."""
    return f"{symbol_prefix(currency)}{places(amount, currency)}"
