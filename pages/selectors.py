"""What the pages show, read through the apps' own selectors: each page's read model gathers
several apps, so it lives here, above them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Exists
from django.utils import timezone

from billing.models import (
    AddOnSubscription,
    Invoice,
    ItemStatus,
    Subscription,
    TokenBundlePurchase,
)
from billing.receipts import receipt_exists
from billing.selectors import (
    add_ons_without_their_plan,
    invoice_plan_follows,
    invoice_tokens_credited,
    invoice_with_items,
    invoices_of_user,
    subscription_active,
    subscription_current,
    subscriptions_waiting,
)
from catalog.models import AddOn, Plan, TokenBundle, UsageMode
from catalog.selectors import add_ons_for_sale, bundles_for_sale, plans_for_sale
from common.errors import NotFound
from tokens.models import TokenTransaction
from tokens.selectors import Balance, HistoryFilters, token_balance, token_history
from tokens.services.alerts import alerts_get, threshold_of

RECENT = 5


@dataclass(frozen=True)
class Receipt:
    invoice: Invoice
    tokens_credited: int
    # The user's balance as read with the invoice: the page's header shows this read too.
    balance_read: Balance
    period_waiting: Subscription | None = None

    @property
    def balance(self) -> int:
        return self.balance_read.balance

    @property
    def settled(self) -> bool:
        """No longer waiting for the payment: paid (refunded since, maybe) or cancelled. The
        receipt page's poll stops here."""
        return self.invoice.status != Invoice.Status.PENDING

    @property
    def cancelled(self) -> bool:
        """Settled without a payment: cancelled while the customer was paying (in another
        tab, or an add-on checkout its plan's refund ended), so nothing was credited."""
        return self.invoice.status == Invoice.Status.CANCELLED

    @property
    def refunded(self) -> bool:
        """Paid, then refunded by staff: the tokens it added were taken back, so the receipt
        must not thank for a payment kept (the back button after a refund, a bookmark)."""
        return self.invoice.status == Invoice.Status.REFUNDED


def purchase_receipt(*, invoice_id: UUID, user_id: UUID) -> Receipt:
    """The user's invoice with the tokens its capture credited (0 until it is paid), and
    the plan period it bought that starts later.

    Raises NotFound for another user's invoice.
    """
    invoice = invoice_with_items(invoice_id=invoice_id, user_id=user_id)
    return Receipt(
        invoice=invoice,
        tokens_credited=invoice_tokens_credited(invoice=invoice),
        balance_read=token_balance(user_id=user_id),
        period_waiting=_period_waiting(invoice),
    )


def _period_waiting(invoice: Invoice) -> Subscription | None:
    """The plan period a paid invoice bought that waits for the running one to end (a plan
    paid again early), if any: one query, for a paid invoice only."""
    if invoice.status != Invoice.Status.PAID:
        return None
    return (
        invoice.subscriptions.filter(status=ItemStatus.ACTIVE, starts_at__gt=timezone.now())
        .order_by("starts_at")
        .first()
    )


@dataclass(frozen=True)
class PriceList:
    bundles: list[TokenBundle]
    plans: list[Plan]
    add_ons: list[AddOn]


def price_list() -> PriceList:
    """Everything on sale, in listing order; bundles carry `.offer` (three queries)."""
    return PriceList(
        bundles=bundles_for_sale(), plans=list(plans_for_sale()), add_ons=list(add_ons_for_sale())
    )


def current_subscription(*, user_id: UUID) -> Subscription | None:
    """billing's current subscription, with `waiting`: when its period runs now, the periods
    of its plan paid since that wait to follow it (a renewal paid early), soonest first; one
    query more then. `unlimited_now`: its period runs now and its plan was sold unlimited,
    so use costs no tokens (a page showing only a balance of 0 read as no use left)."""
    try:
        current = subscription_current(user_id=user_id)
    except NotFound:
        return None
    started = current.starts_at is not None and current.starts_at <= timezone.now()
    running = current.status == ItemStatus.ACTIVE and started
    current.waiting = (
        list(subscriptions_waiting(user_id=user_id, plan_id=current.plan_id)) if running else []
    )
    current.unlimited_now = running and current.usage_mode == UsageMode.UNLIMITED
    return current


def plans_offered(subscription: Subscription | None) -> bool:
    """Whether to lead a user without a plan to the plans: only when one is on sale (asked
    only then, one query)."""
    return subscription is None and plans_for_sale().exists()


@dataclass(frozen=True)
class Dashboard:
    balance: Balance
    entries: list[TokenTransaction]
    invoices: list[Invoice]
    subscription: Subscription | None
    plans_offered: bool


def dashboard(*, user_id: UUID) -> Dashboard:
    """A signed-in user's landing page: balance, latest ledger entries and invoices, plan."""
    subscription = current_subscription(user_id=user_id)
    return Dashboard(
        balance=token_balance(user_id=user_id),
        entries=list(token_history(user_id=user_id, filters=HistoryFilters())[:RECENT]),
        invoices=list(invoices_of_user(user_id=user_id)[:RECENT]),
        subscription=subscription,
        plans_offered=plans_offered(subscription),
    )


@dataclass(frozen=True)
class Account:
    balance: Balance
    subscription: Subscription | None
    own_threshold: int | None
    plans_offered: bool

    @property
    def threshold(self) -> int:
        """The low-balance threshold in force (the default unless the user set one)."""
        return threshold_of(self.own_threshold)


def account(*, user_id: UUID) -> Account:
    subscription = current_subscription(user_id=user_id)
    return Account(
        balance=token_balance(user_id=user_id),
        subscription=subscription,
        own_threshold=alerts_get(user_id=user_id),
        plans_offered=plans_offered(subscription),
    )


@dataclass(frozen=True)
class InvoicePage:
    invoice: Invoice
    has_receipt: bool
    subscriptions: list[Subscription]
    add_ons: list[AddOnSubscription]
    purchases: list[TokenBundlePurchase]
    plan_ended: bool
    # A pending renewal: paid now, its period starts when the one running now ends.
    plan_follows: datetime | None = None


def invoice_page(*, invoice_id: UUID, user_id: UUID) -> InvoicePage:
    """The user's invoice with what it bought. Raises NotFound for another user's.

    `plan_ended`: a pending invoice's add-ons, bought without a plan, rely on a plan that has
    ended and no other plan of the user's runs (before the sweep cancels the checkout), so
    paying it is refused (billing's invoice_require_plan_running asks the same). Asked only
    of a pending invoice with add-ons: two queries then. `plan_follows`: when the plan of a
    pending invoice, the user's running plan paid again, would start (the running period's
    end, not the payment); one query more for a pending invoice with a plan."""
    invoice = invoice_with_items(invoice_id=invoice_id, user_id=user_id)
    subscriptions = list(invoice.subscriptions.order_by("created_at"))
    now = timezone.now()
    for subscription in subscriptions:
        # A period paid early that waits for the running one to end: not yet in use.
        subscription.starts_later = bool(subscription.starts_at and subscription.starts_at > now)
    add_ons = list(invoice.add_on_subscriptions.order_by("created_at", "id"))
    plan_ended = (
        invoice.status == Invoice.Status.PENDING
        and bool(add_ons)
        and add_ons_without_their_plan(invoice.pk).exists()
        and subscription_active(user_id=user_id) is None
    )
    return InvoicePage(
        invoice=invoice,
        has_receipt=receipt_exists(invoice),
        subscriptions=subscriptions,
        add_ons=add_ons,
        purchases=list(invoice.token_purchases.order_by("created_at", "id")),
        plan_ended=plan_ended,
        plan_follows=(
            invoice_plan_follows(invoice=invoice)
            if invoice.status == Invoice.Status.PENDING and subscriptions
            else None
        ),
    )


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
