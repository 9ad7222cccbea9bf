"""Checkout: one invoice with its line items and everything it buys, all pending."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    InvoiceLineItem,
    InvoiceSequence,
    Subscription,
    TokenBundlePurchase,
)
from billing.services import notices
from billing.services.checkout.cart import Cart, cart_read
from billing.services.numbers import invoice_number_next
from catalog.models import CatalogItem
from common.db import atomic_if_needed, in_all_or_nothing, inserted
from common.errors import Invalid
from events.services import events_emit

ItemType = InvoiceLineItem.ItemType


@dataclass(frozen=True)
class CheckoutResult:
    invoice: Invoice
    subscription: Subscription | None
    purchases: list[TokenBundlePurchase] = field(default_factory=list)
    add_ons: list[AddOnSubscription] = field(default_factory=list)
    # The invoice's line items in their order, so that the answer needs no read of its own.
    lines: list[InvoiceLineItem] = field(default_factory=list)


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
            cart = cart_read(user_id, plan_id, token_bundle_ids, add_on_ids)
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


def _write(user_id: UUID, cart: Cart, idempotency_key: str) -> CheckoutResult:
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
                number=_number_of_this_year(),
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


def _number_of_this_year() -> str:
    """The next number of the year the invoice is dated in (its `created_at`, stamped as it
    is inserted next). The year is read before the number's row lock, which another
    checkout holds until it commits: waited for past midnight of 31 December, an invoice
    dated 1 January took the old year's last number. So the clock is read again once the
    lock is held, and when the year has turned the number is given back (nobody can have
    taken one after it: the lock is this checkout's until it commits) and one of the new
    year taken. Only forward (a clock stepped back keeps its number): locks go from the
    older year's row to the newer one's, never the other way, so two checkouts never wait
    for each other in a circle."""
    year = timezone.now().year
    number = invoice_number_next(year=year)
    while (now := timezone.now().year) > year:
        InvoiceSequence.objects.filter(year=year).update(last_number=F("last_number") - 1)
        year = now
        number = invoice_number_next(year=year)
    return number


def _lines(cart: Cart, invoice_id: UUID) -> list[InvoiceLineItem]:
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
