"""The staff catalog API's kinds, addresses and bodies, shared by the test_api_staff_* modules."""

from catalog.models import AddOn, Plan, TokenBundle
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory

KINDS = {
    "token-bundles": (TokenBundle, TokenBundleFactory, {"token_amount": 1000}),
    "add-ons": (AddOn, AddOnFactory, {"billing_period": "one_time"}),
    "plans": (Plan, PlanFactory, {"billing_period": "yearly"}),
}


def url(kind: str, item=None, suffix: str = "") -> str:
    base = f"/api/v1/admin/{kind}"
    return f"{base}/{item.id}{suffix}" if item else base


def valid_body(kind: str, **overrides) -> dict:
    return {"name": "New item", "price": "12.50", **KINDS[kind][2], **overrides}


def make(kind: str, **fields):
    return KINDS[kind][1](**fields)


COMMON_BAD_INPUT = [
    ({"name": "   "}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": None}, "name"),
    ({"name": ["list"]}, "name"),
    ({"price": "0"}, "price"),
    ({"price": "-1.00"}, "price"),
    ({"price": "100000000"}, "price"),
    ({"price": "5.001"}, "price"),
    ({"price": 5.001}, "price"),
    ({"price": "1e10"}, "price"),
    ({"price": "NaN"}, "price"),
    ({"price": "Infinity"}, "price"),
    ({"price": "five"}, "price"),
    ({"price": True}, "price"),
    ({"price": None}, "price"),
    # Out of range: once a 500 (DRF quantized them beyond its precision).
    ({"price": "1e100"}, "price"),
    ({"price": 1e100}, "price"),
    ({"price": "999999999999999999999999999999"}, "price"),
    ({"price": 999999999999999999999999999999}, "price"),
    # Only plain digits, as the schema's pattern says.
    ({"price": " 5"}, "price"),
    ({"price": "+5"}, "price"),
    ({"price": ".5"}, "price"),
    ({"price": "5."}, "price"),
    ({"price": "1_000"}, "price"),
    ({"price": "\u0665"}, "price"),
    ({"price": "00000000005"}, "price"),
    ({"sort_order": "3"}, "sort_order"),
    ({"sort_order": 1.5}, "sort_order"),
    ({"is_active": "maybe"}, "is_active"),
    ({"is_active": "yes"}, "is_active"),
    ({"is_active": 1}, "is_active"),
    ({"currency_id": "not-a-uuid"}, "currency_id"),
    ({"currency_id": "0" * 32}, "currency_id"),
    ({"currency_id": 5}, "currency_id"),
    ({"name": 5}, "name"),
    ({"name": "\x85" + "x" * 256}, "name"),  # 256 after trimming
    ({"name": "nul\x00"}, "name"),
    ({"description": 5.5}, "description"),
]
