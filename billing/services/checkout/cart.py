"""What a checkout buys, read from the catalog under the locks its capture needs: the
items named, active, in the default currency, and an add-on's plan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections

from billing.models import Subscription
from billing.selectors import subscription_active
from catalog.models import AddOn, CatalogItem, Currency, Plan, TokenBundle
from common.db import selected
from common.errors import Invalid, InvalidFields

MAX_ITEMS = 100


@dataclass(frozen=True)
class Cart:
    """What the checkout buys, read from the catalog: its prices, not the client's."""

    plan: Plan | None
    bundles: list[TokenBundle]
    add_ons: list[AddOn]
    parent: Subscription | None
    currency: Currency


def cart_read(
    user_id: UUID,
    plan_id: UUID | None,
    token_bundle_ids: Sequence[UUID],
    add_on_ids: Sequence[UUID],
) -> Cart:
    """The items named, read from the catalog (its prices, not the client's) under the locks
    the checkout's capture needs. Raises Invalid, or InvalidFields naming every field whose
    items are refused, before anything is written."""
    count = (1 if plan_id else 0) + len(token_bundle_ids) + len(add_on_ids)
    if count == 0:
        raise Invalid(
            "non_field_errors", "Choose at least one item: a plan, a bundle or an add-on."
        )
    if count > MAX_ITEMS:
        raise Invalid(
            "non_field_errors", f"At most {MAX_ITEMS} items per checkout; this has {count}."
        )
    repeated = [add_on_id for add_on_id, times in Counter(add_on_ids).items() if times > 1]
    # Every kind looked up, in this order (the locks' order), whichever is refused: the
    # answer names each field whose items are gone, so a cart is corrected in one go.
    kinds = [
        (Plan, [plan_id] if plan_id else [], "plan_id", "plan"),
        (TokenBundle, token_bundle_ids, "token_bundle_ids", "token bundle"),
        (AddOn, add_on_ids, "add_on_ids", "add-on"),
    ]
    refused: dict[str, list[str]] = {}
    found: dict[str, dict[UUID, CatalogItem]] = {}
    for model, ids, field_name, label in kinds:
        if model is AddOn and repeated:
            refused[field_name] = [f"An add-on can be bought once per checkout: {_ids(repeated)}."]
            continue
        try:
            found[field_name] = _active(model, ids, field_name, label)
        except Invalid as refusal:
            refused[refusal.field] = refusal.messages
    if refused:
        raise InvalidFields(refused)
    plan = found["plan_id"][plan_id] if plan_id else None
    found_bundles, found_add_ons = found["token_bundle_ids"], found["add_on_ids"]
    parent = None
    if add_on_ids and plan is None:
        # Held until the checkout commits, after the catalog's items and before the invoice
        # number (a refund locks its own invoice, then updates this row): a refund of the
        # plan that went first has ended it, one that comes second waits and then moves
        # this checkout, with the others relying on the plan, onto the user's plan that
        # runs, or cancels them.
        parent = subscription_active(user_id=user_id, for_share=True)
        if parent is None:
            raise Invalid(
                "add_on_ids",
                "Add-ons need a plan: add plan_id, or subscribe to a plan first.",
            )
    items = [
        *([plan] if plan else []),
        *found_bundles.values(),
        *found_add_ons.values(),
    ]
    currency = items[0].currency
    if not currency.is_default or any(item.currency_id != currency.id for item in items):
        raise Invalid("non_field_errors", "Every item must be priced in the default currency.")
    return Cart(
        plan=plan,
        bundles=[found_bundles[bundle_id] for bundle_id in token_bundle_ids],
        add_ons=[found_add_ons[add_on_id] for add_on_id in add_on_ids],
        parent=parent,
        currency=currency,
    )


def _active(
    model: type[CatalogItem], ids: Sequence[UUID], field_name: str, label: str
) -> dict[UUID, CatalogItem]:
    """The active items with these ids, in one query; Invalid names any that are not."""
    if not ids:
        return {}
    distinct = list(dict.fromkeys(ids))
    placeholders = ", ".join(["%s"] * len(distinct))
    # Looked up once: passing `django.db.connection` looked it up again for every id.
    database = connections[DEFAULT_DB_ALIAS]
    found = {
        item.id: item
        for item in selected(
            model,
            f"t.id IN ({placeholders}) AND t.is_active",
            [model._meta.pk.get_db_prep_value(item_id, database) for item_id in distinct],
            joined="currency",
            kept=True,
        )
    }
    missing = [item_id for item_id in distinct if item_id not in found]
    if missing:
        raise Invalid(field_name, f"No active {label} with id {_ids(missing)}.")
    return found


def _ids(ids: Sequence[UUID]) -> str:
    return ", ".join(str(item_id) for item_id in ids)
