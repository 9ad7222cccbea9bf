"""The invoice a purchase page's Buy pays again instead of making another: the same cart,
still waiting, at today's prices and terms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from django.db.models import Exists

from billing.models import AddOnSubscription, Invoice, Subscription, TokenBundlePurchase
from billing.selectors import subscription_active
from catalog.models import AddOn, Plan, TokenBundle


def purchase_waiting(
    *,
    user_id: UUID,
    key: str,
    cart: str,
    since: datetime,
    plan_id: UUID | None,
    bundle_ids: Sequence[UUID],
    add_on_ids: Sequence[UUID],
) -> Invoice | None:
    """The user's newest pending invoice that the pages made since `since` for this very cart
    (its key ends with `cart`, the choices' digest), when the submission's own `key` has no
    invoice, and whose lines are the chosen items at today's prices and terms (and its
    add-ons on the plan that is active now); else None. Two queries when there is none."""
    own = Invoice.objects.filter(user_id=user_id, idempotency_key=key)
    invoice = (
        Invoice.objects.filter(
            user_id=user_id,
            status=Invoice.Status.PENDING,
            created_at__gte=since,
            idempotency_key__startswith="page:",
            idempotency_key__endswith=cart,
        )
        .filter(~Exists(own))
        .order_by("-created_at")
        .first()
    )
    if invoice is None:
        return None
    chosen = Counter([*([plan_id] if plan_id else []), *bundle_ids, *add_on_ids])
    today = [
        (item_id, chosen[item_id], price, invoice.currency_id)
        for model in (Plan, TokenBundle, AddOn)
        for item_id, price, currency_id in model.objects.filter(
            pk__in=list(chosen), is_active=True
        ).values_list("pk", "price", "currency_id")
        if currency_id == invoice.currency_id
    ]
    lines = [
        (line.item_id, line.quantity, line.unit_price, invoice.currency_id)
        for line in invoice.line_items.all()
    ]
    if sorted(lines, key=str) != sorted(today, key=str):
        return None
    if not _sold_as_copied(invoice, [bool(bundle_ids), bool(plan_id), bool(add_on_ids)]):
        return None
    if add_on_ids and not plan_id:
        active = subscription_active(user_id=user_id)
        parents = set(invoice.add_on_subscriptions.values_list("subscription_id", flat=True))
        if active is None or parents != {active.pk}:
            return None
    return invoice


# What a checkout copies of each kind of item besides its price (billing.services.checkout):
# the copy's model, its key to the item, its fields, and the item's fields they came from.
COPIED = (
    (TokenBundlePurchase, "bundle", ("name", "tokens", "tokens_expire_after_days"),
     ("name", "token_amount", "expires_after_days")),
    (Subscription, "plan", ("plan_name", "billing_period", "included_tokens", "usage_mode"),
     ("name", "billing_period", "included_tokens", "usage_mode")),
    (AddOnSubscription, "add_on", ("name", "billing_period"), ("name", "billing_period")),
)  # fmt: skip


def _sold_as_copied(invoice: Invoice, kinds: Sequence[bool]) -> bool:
    """Whether the catalog sells the invoice's items as its checkout copied them, of the kinds
    in the cart (bundles, plan, add-ons; one query each): staff gave a bundle more tokens at
    the same price, and Buy on the page showing them paid the invoice for fewer."""
    for (model, item, copied, current), in_cart in zip(COPIED, kinds, strict=True):
        fields = [*copied, *(f"{item}__{name}" for name in current)]
        rows = model.objects.filter(invoice=invoice).values_list(*fields) if in_cart else []
        if any(row[: len(copied)] != row[len(copied) :] for row in rows):
            return False
    return True
