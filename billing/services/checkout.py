"""Checkout: one invoice with its line items and everything it buys, all pending."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    InvoiceLineItem,
    Subscription,
    TokenBundlePurchase,
)
from billing.selectors import subscription_active
from billing.services import notices
from billing.services.numbers import invoice_number_next
from catalog.models import AddOn, CatalogItem, Currency, Plan, TokenBundle
from common.db import atomic_if_needed, in_all_or_nothing, inserted, selected
from common.errors import Invalid, InvalidFields
from events.services import events_emit

MAX_ITEMS = 100
ItemType = InvoiceLineItem.ItemType


@dataclass(frozen=True)
class CheckoutResult:
    invoice: Invoice
    subscription: Subscription | None
    purchases: list[TokenBundlePurchase] = field(default_factory=list)
    add_ons: list[AddOnSubscription] = field(default_factory=list)
    # The invoice's line items in their order, so that the answer needs no read of its own.
    lines: list[InvoiceLineItem] = field(default_factory=list)


@dataclass(frozen=True)
class _Cart:
    """What the checkout buys, read from the catalog: its prices, not the client's."""

    plan: Plan | None
    bundles: list[TokenBundle]
    add_ons: list[AddOn]
    parent: Subscription | None
    currency: Currency


def checkout_create(
    *,
    user_id: UUID,
    plan_id: UUID | None,
    token_bundle_ids: Sequence[UUID],
    add_on_ids: Sequence[UUID],
    idempotency_key: str = "",
) -> CheckoutResult:
    """Creates a pending invoice, its line items, the subscription, one purchase per bundle
    occurrence and the add-on subscriptions, in one transaction.

    Raises Invalid (and writes nothing) for no items, more than 100, an unknown or inactive
    item, an add-on twice, or add-ons without a plan in this checkout or an active
    subscription. With `idempotency_key`, the same key again returns the first checkout.
    A fixed number of queries, whatever the number of items: one read per kind of item, one
    insert per kind of row.
    """
    # The cart's items stay locked against deletion until the checkout commits: staff
    # deleting one meanwhile wait and then find it bought, or go first and the cart finds it
    # gone (before, the checkout's foreign keys failed at its commit: a 500).
    with atomic_if_needed():
        try:
            cart = _cart(user_id, plan_id, token_bundle_ids, add_on_ids)
        except Invalid:
            # A key the invoice keeps answers that invoice, as a second write with it does
            # below: a retry whose record has lapsed finds it though the catalog has changed
            # since (an item retired), and so does any other body sent with the key.
            first = _checkout_with_key(user_id, idempotency_key)
            if first is None:
                raise
            return first
        # A savepoint only where a key's duplicate is answered here; inside all_or_nothing()
        # the failure broke the caller's transaction, and the caller answers from what the
        # first checkout committed.
        answers_the_first = bool(idempotency_key) and not in_all_or_nothing()
        try:
            with transaction.atomic(savepoint=answers_the_first):
                return _write(user_id, cart, idempotency_key)
        except IntegrityError:
            first = _checkout_with_key(user_id, idempotency_key) if answers_the_first else None
            if first is None:
                raise
            return first


def _checkout_with_key(user_id: UUID, idempotency_key: str) -> CheckoutResult | None:
    if not idempotency_key:
        return None
    first = Invoice.objects.filter(user_id=user_id, idempotency_key=idempotency_key).first()
    return checkout_of(first) if first else None


def checkout_of(invoice: Invoice) -> CheckoutResult:
    """What a checkout created, read back (for a replayed key)."""
    return CheckoutResult(
        invoice=invoice,
        subscription=invoice.subscriptions.order_by("created_at").first(),
        purchases=list(invoice.token_purchases.order_by("created_at", "id")),
        add_ons=list(invoice.add_on_subscriptions.order_by("created_at", "id")),
        lines=list(invoice.line_items.order_by("position")),
    )


def _cart(
    user_id: UUID,
    plan_id: UUID | None,
    token_bundle_ids: Sequence[UUID],
    add_on_ids: Sequence[UUID],
) -> _Cart:
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
    return _Cart(
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


def _write(user_id: UUID, cart: _Cart, idempotency_key: str) -> CheckoutResult:
    """Rows that refer to the invoice go first (foreign keys are checked at commit), the
    invoice number last: its row lock serializes checkouts, so it is held only for the
    invoice's own INSERT."""
    invoice_id = uuid.uuid4()
    lines = inserted(_lines(cart, invoice_id))
    subscription = None
    if cart.plan:
        (subscription,) = inserted(
            [
                Subscription(
                    user_id=user_id,
                    plan=cart.plan,
                    invoice_id=invoice_id,
                    plan_name=cart.plan.name,
                    billing_period=cart.plan.billing_period,
                    price=cart.plan.price,
                    included_tokens=cart.plan.included_tokens,
                    usage_mode=cart.plan.usage_mode,
                )
            ]
        )
    purchases = inserted(
        [
            TokenBundlePurchase(
                user_id=user_id,
                bundle=bundle,
                invoice_id=invoice_id,
                name=bundle.name,
                tokens=bundle.token_amount,
                tokens_expire_after_days=bundle.expires_after_days,
                unit_price=bundle.price,
            )
            for bundle in cart.bundles
        ]
    )
    add_ons = inserted(
        [
            AddOnSubscription(
                user_id=user_id,
                add_on=add_on,
                subscription=subscription or cart.parent,
                invoice_id=invoice_id,
                name=add_on.name,
                billing_period=add_on.billing_period,
                unit_price=add_on.price,
            )
            for add_on in cart.add_ons
        ]
    )
    total = sum((line.total_price for line in lines), Decimal(0))
    (invoice,) = inserted(
        [
            Invoice(
                id=invoice_id,
                number=invoice_number_next(year=timezone.now().year),
                user_id=user_id,
                currency=cart.currency,
                subtotal=total,
                total=total,
                idempotency_key=idempotency_key,
            )
        ]
    )
    for row in (*purchases, *lines):
        row.invoice = invoice
    events_emit([notices.invoice_created(invoice)])
    return CheckoutResult(invoice, subscription, purchases, add_ons, lines)


def _lines(cart: _Cart, invoice_id: UUID) -> list[InvoiceLineItem]:
    """One line for the plan, one per distinct bundle (quantity counts repeats), one per
    add-on; each line's total is quantity times unit price."""
    lines: list[tuple[str, CatalogItem, str, int]] = []
    if cart.plan:
        lines.append((ItemType.SUBSCRIPTION, cart.plan, f"{cart.plan.name} plan", 1))
    for bundle_id, quantity in Counter(bundle.id for bundle in cart.bundles).items():
        bundle = next(bundle for bundle in cart.bundles if bundle.id == bundle_id)
        lines.append(
            (
                ItemType.TOKEN_BUNDLE,
                bundle,
                f"{bundle.name} ({bundle.token_amount} tokens)",
                quantity,
            )
        )
    for add_on in cart.add_ons:
        lines.append((ItemType.ADD_ON, add_on, f"{add_on.name} add-on", 1))
    return [
        InvoiceLineItem(
            invoice_id=invoice_id,
            position=position,
            item_type=item_type,
            item_id=item.id,
            description=description[:300],
            quantity=quantity,
            unit_price=item.price,
            total_price=item.price * quantity,
        )
        for position, (item_type, item, description, quantity) in enumerate(lines, start=1)
    ]
