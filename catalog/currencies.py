"""What the data migration, the demo seed and the settings need to know about a currency
code. Imports nothing of Django: config/settings/service.py checks DEFAULT_CURRENCY with it."""

from __future__ import annotations

import re

# Symbol and minor-unit places, as Stripe counts its amounts, for the codes we expect; others
# get their code as symbol and 2 places. Money columns hold 2 places, so 3-place currencies
# are not supported (refused as DEFAULT_CURRENCY).
KNOWN_CURRENCIES: dict[str, tuple[str, int]] = {
    "USD": ("$", 2),
    "EUR": ("€", 2),
    "GBP": ("£", 2),
    "CHF": ("CHF", 2),
    "CAD": ("CA$", 2),
    "AUD": ("A$", 2),
    "SEK": ("kr", 2),
    "PLN": ("zł", 2),
    "INR": ("₹", 2),
    "BRL": ("R$", 2),
    "JPY": ("¥", 0),
    "KRW": ("₩", 0),
    # The other currencies Stripe takes in whole units (its zero-decimal list): created with
    # 2 places, a price of 50000 VND was sent to Stripe as 5000000, a hundred times over.
    **{
        code: (code, 0)
        for code in (
            "BIF", "CLP", "DJF", "GNF", "KMF", "MGA", "PYG",
            "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
        )
    },
}  # fmt: skip


# ISO 4217 currencies with more minor-unit places than the money columns hold (2): refused as
# DEFAULT_CURRENCY, for they would be created with 2 places and priced and charged wrongly.
MORE_PLACES_THAN_SUPPORTED: dict[str, int] = {
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}


def currency_refusal(code: str) -> str | None:
    """Why `code` cannot be the default currency, or None when it can."""
    if not re.fullmatch(r"[A-Z]{3}", code):
        return f"must be an ISO 4217 code of three letters, such as USD, not {code!r}"
    if code in MORE_PLACES_THAN_SUPPORTED:
        return (
            f"cannot be {code}: it has {MORE_PLACES_THAN_SUPPORTED[code]} decimal places "
            "and prices hold at most 2"
        )
    return None


def currency_defaults(code: str) -> dict[str, object]:
    symbol, places = KNOWN_CURRENCIES.get(code, (code, 2))
    return {"symbol": symbol, "decimal_places": places}


def stripe_places(code: str) -> int:
    """The minor-unit places Stripe counts `code`'s amounts in: what a price is multiplied by
    ten to the power of on its way to Stripe must be this, or the customer pays another sum."""
    return MORE_PLACES_THAN_SUPPORTED.get(code, KNOWN_CURRENCIES.get(code, (code, 2))[1])
