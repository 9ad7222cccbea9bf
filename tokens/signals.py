"""Tokens' receivers of billing's signals (connected in tokens.apps). Each hands the signal's
plain data to a service; the notices are described in billing.signals."""

from __future__ import annotations

from typing import Any

from tokens import services


def credit_purchased_tokens(sender: object, paid: Any, **kwargs: object) -> None:
    if paid.purchases:
        services.purchases_credit(user_id=paid.user_id, purchases=paid.purchases)


def reverse_refunded_tokens(sender: object, refunded: Any, **kwargs: object) -> None:
    if refunded.purchases:
        services.purchases_reverse(user_id=refunded.user_id, purchases=refunded.purchases)
