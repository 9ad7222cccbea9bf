"""Tokens' receivers of billing's signals (connected in tokens.apps)."""

from __future__ import annotations

from tokens import services


def credit_purchased_tokens(sender, invoice, **kwargs) -> dict[str, int]:
    return services.purchases_credit(invoice=invoice)


def reverse_refunded_tokens(sender, invoice, **kwargs) -> dict[str, int]:
    return services.purchases_reverse(invoice=invoice)
