"""What the data migration and the demo seed need to know about a currency code."""

from __future__ import annotations

# Symbol and minor-unit places (ISO 4217) for the codes we expect; others get their code as
# symbol and 2 places. Money columns hold 2 places, so 3-place currencies are not supported.
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
}


def currency_defaults(code: str) -> dict[str, object]:
    symbol, places = KNOWN_CURRENCIES.get(code, (code, 2))
    return {"symbol": symbol, "decimal_places": places}
