"""Tokens' receivers of billing's and accounts' signals (connected in tokens.apps). Each hands
the signal's plain data to a service; billing's notices are described in billing.signals."""

from __future__ import annotations

from typing import Any

from tokens import services


def credit_purchased_tokens(sender: object, paid: Any, **kwargs: object) -> None:
    """Paid lots for the purchases, and each paid period's included tokens."""
    if paid.purchases:
        services.purchases_credit(user_id=paid.user_id, purchases=paid.purchases)
    for included in paid.included:
        services.included_grant(
            user_id=paid.user_id,
            tokens=included.tokens,
            expires_at=included.expires_at,
            reference=included.reference_id,
            description=included.description,
        )
    for period in paid.unlimited:
        services.coverage_start(
            user_id=paid.user_id,
            subscription_id=period.subscription_id,
            starts_at=period.starts_at,
            ends_at=period.ends_at,
        )


def reverse_refunded_tokens(sender: object, refunded: Any, **kwargs: object) -> None:
    """Takes back what is left of the invoice's own lots, and ends its unlimited usage."""
    given = (*refunded.purchases, *refunded.included)
    if given:
        services.purchases_reverse(user_id=refunded.user_id, purchases=given)
    # The renewals moved up to the refund first: one that covers from the refund keeps the
    # holds made under the refunded period, as any plan that runs does.
    if refunded.moved:
        services.coverage_move(
            user_id=refunded.user_id,
            periods=[(p.subscription_id, p.starts_at, p.ends_at) for p in refunded.moved],
        )
    if refunded.unlimited_ended:
        services.coverage_end(
            user_id=refunded.user_id,
            subscription_ids=list(refunded.unlimited_ended),
            now=refunded.refunded_at,
        )


def grant_trial(sender: object, user_id: Any, **kwargs: object) -> None:
    services.trial_grant(user_id=user_id)
