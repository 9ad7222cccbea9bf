"""Price per token, savings and the best-value pick, computed exactly (fractions, no floats)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from uuid import UUID

from catalog.models import TokenBundle


@dataclass(frozen=True)
class BundleOffer:
    price_per_token: Decimal
    savings_percent: int
    is_best_value: bool


def bundle_offers(bundles: Sequence[TokenBundle]) -> dict[UUID, BundleOffer]:
    """How each bundle compares with the others on sale.

    Savings are whole percents per token against the dearest bundle per token, rounded down so
    a card never promises more than it gives. The best value is the cheapest per token; a tie
    goes to the larger bundle, then to the one listed first.
    """
    if not bundles:
        return {}
    unit_prices = {bundle.id: Fraction(bundle.price) / bundle.token_amount for bundle in bundles}
    dearest = max(unit_prices.values())
    best = min(bundles, key=lambda bundle: (unit_prices[bundle.id], -bundle.token_amount))
    return {
        bundle.id: BundleOffer(
            price_per_token=bundle.price_per_token,
            savings_percent=math.floor((1 - unit_prices[bundle.id] / dearest) * 100),
            is_best_value=bundle.id == best.id,
        )
        for bundle in bundles
    }
