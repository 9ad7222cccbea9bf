from decimal import Decimal

from catalog.models import TokenBundle
from catalog.pricing import bundle_offers


def bundle(tokens: int, price: str, name: str = "") -> TokenBundle:
    return TokenBundle(name=name or f"{tokens}", token_amount=tokens, price=Decimal(price))


def test_savings_are_against_the_dearest_bundle_per_token_and_round_down():
    bundles = [bundle(10, "10.00"), bundle(50, "45.00"), bundle(500, "400.00"), bundle(3, "2.00")]

    offers = bundle_offers(bundles)

    assert [offers[b.id].savings_percent for b in bundles] == [0, 10, 20, 33]
    assert [offers[b.id].price_per_token for b in bundles] == [
        Decimal("1.0000"),
        Decimal("0.9000"),
        Decimal("0.8000"),
        Decimal("0.6667"),
    ]


def test_one_best_value_and_a_tie_goes_to_the_larger_bundle():
    small, large, other = bundle(1000, "5.00"), bundle(10000, "50.00"), bundle(10, "10.00")

    offers = bundle_offers([small, large, other])

    assert [offers[b.id].is_best_value for b in (small, large, other)] == [False, True, False]


def test_a_single_bundle_is_the_best_value_with_no_saving():
    only = bundle(100, "1.00")

    offer = bundle_offers([only])[only.id]

    assert offer.is_best_value
    assert offer.savings_percent == 0


def test_price_per_token_is_exact_to_four_places_half_up():
    assert bundle(3, "0.01").price_per_token == Decimal("0.0033")
    assert bundle(2, "0.01").price_per_token == Decimal("0.0050")
    assert bundle(8, "0.01").price_per_token == Decimal("0.0013")


def test_no_bundles_no_offers():
    assert bundle_offers([]) == {}
