"""What the pages show, read through the apps' own selectors: each page's read model gathers
several apps, so it lives here, above them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet
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
from pages.selectors.waiting import purchase_waiting
from tokens.models import TokenTransaction
from tokens.selectors import (
    Balance,
    HistoryFilters,
    token_balance,
    token_history,
    token_history_count,
)
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
class HistoryAsRead:
    entries: QuerySet[TokenTransaction]
    count: int
    # The number of the newest entry the list holds, for the pager's links to keep.
    upto: int


def history_as_read(*, user_id: UUID, filters: HistoryFilters, upto: int | None) -> HistoryAsRead:
    """The user's filtered entries as the ledger stood when the list's first page was read:
    those numbered up to `upto` (the newest entry's number then; now, when None). Entries are
    numbered 1, 2, 3... per account and never removed, so the pages stay put while new ones
    arrive: counted from the newest at each load, five uses recorded while the customer read
    page 1 pushed its last five rows onto page 2, shown twice. Unfiltered, the count is
    `upto` itself (no COUNT over a long history). An `upto` past the newest entry is the
    newest."""
    newest = token_history_count(user_id=user_id, filters=HistoryFilters())
    upto = newest if upto is None else min(upto, newest)
    entries = token_history(user_id=user_id, filters=filters).filter(number__lte=upto)
    count = entries.count() if filters.any else upto
    return HistoryAsRead(entries=entries, count=count, upto=upto)


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


__all__ = [
    "RECENT",
    "Account",
    "Dashboard",
    "HistoryAsRead",
    "InvoicePage",
    "PriceList",
    "Receipt",
    "account",
    "current_subscription",
    "dashboard",
    "history_as_read",
    "invoice_page",
    "plans_offered",
    "price_list",
    "purchase_receipt",
    "purchase_waiting",
]
