"""The purchase flow of the pages: a checkout, then Stripe Checkout (or the test provider's
page when Stripe is not configured and test payments are on)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.models import Invoice
from common.errors import DomainError, InvalidState
from pages import selectors


class PaymentsUnavailable(DomainError):
    """Neither Stripe nor test payments are configured: nothing could take the money, so
    nothing is ordered."""

    code = "payments_unavailable"
    http_status = 503
    default_message = (
        "Payments are not available right now, and nothing was charged. Please try again later."
    )


# Buy with a new submission (a second tab, a page drawn anew without its script) for the
# cart a pending invoice made on the pages this long ago waits for pays that invoice instead
# of making a second one; an older one is left as it is, and Buy makes a new one.
SAME_CART_WAITS = timedelta(hours=1)

NOTHING_ORDERED = (
    "Payments are not available right now, so nothing was ordered and nothing was charged. "
    "Please try again later."
)


def payment_provider(*, refusal: str | None = None) -> str:
    """The provider the pages pay with. Raises PaymentsUnavailable (with `refusal` as its
    message) when there is none."""
    provider = billing.payment_provider_default()
    if provider is None:
        raise PaymentsUnavailable(refusal)
    return provider


def purchase_start(
    *,
    user_id: UUID,
    bundle_ids: Sequence[UUID],
    submission: UUID,
    plan_id: UUID | None = None,
    add_on_ids: Sequence[UUID] = (),
) -> str:
    """Checks out the chosen plan, bundles and add-ons and starts paying with the default
    provider (Stripe, else the test provider); returns where the browser goes next.

    `submission` is fixed when the page is rendered, so the same page sent again (a double
    click, a refusal shown and sent again, or a page the browser restores with its form from
    its back/forward cache) finds the same invoice (the checkout's idempotency key) and the
    same Stripe session (its stored session) or test page, and a paid one sends the browser to
    its receipt. The page is no-store (a session page), so Back draws it anew with a new
    submission; the page's script puts the first one back from its history entry. A new
    submission for the cart a pending invoice made on the pages in the last SAME_CART_WAITS
    waits for (same items, today's prices; pages.selectors.purchase_waiting) pays that
    invoice instead of making a second one.
    Raises PaymentsUnavailable before anything is written when no provider is configured,
    Invalid (from checkout), InvalidState for a cancelled purchase and PaymentProviderError.
    """
    provider = payment_provider(refusal=NOTHING_ORDERED)
    cart = _cart_digest(plan_id, bundle_ids, add_on_ids)
    key = f"page:{submission}:{cart}"
    # The user's Buys take turns from the look-up to the checkout's commit: two at once for
    # one cart (two tabs) would both find nothing waiting and make an invoice each.
    with transaction.atomic():
        _purchases_lock(user_id)
        waiting = selectors.purchase_waiting(
            user_id=user_id,
            key=key,
            cart=f":{cart}",
            since=timezone.now() - SAME_CART_WAITS,
            plan_id=plan_id,
            bundle_ids=bundle_ids,
            add_on_ids=add_on_ids,
        )
        if waiting is None:
            invoice = billing.checkout_create(
                user_id=user_id,
                plan_id=plan_id,
                token_bundle_ids=list(bundle_ids),
                add_on_ids=list(add_on_ids),
                idempotency_key=key,
            ).invoice
    if waiting is not None:
        return billing.invoice_pay_start(
            invoice_id=waiting.pk, user_id=user_id, provider=provider
        ).checkout_url
    if invoice.status in (Invoice.Status.PAID, Invoice.Status.REFUNDED):
        return purchase_success_url(invoice)
    if invoice.status == Invoice.Status.CANCELLED:
        raise PurchaseCancelled("That purchase was cancelled; choose your bundles again.")
    started = billing.invoice_pay_start(invoice_id=invoice.pk, user_id=user_id, provider=provider)
    return started.checkout_url


def _purchases_lock(user_id: UUID) -> None:
    """A transaction-scoped lock on the user's purchases on the pages, taken before any
    other (PgBouncer's transaction pooling keeps it). Not needed on SQLite: there each
    transaction takes the database's write lock at BEGIN (IMMEDIATE), so two Buys run the
    look-up and the checkout one after the other."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"page-purchase:{user_id}"]
        )


class PurchaseCancelled(InvalidState):
    """The page's submission already bought something that was cancelled since: the page
    needs a new submission to buy again."""


def _cart_digest(
    plan_id: UUID | None, bundle_ids: Sequence[UUID], add_on_ids: Sequence[UUID]
) -> str:
    """What was chosen, in the checkout's key after the page's submission
    (`page:<submission>:<digest>`). The same page sent again (a double click, a page restored
    from the browser's cache) finds its invoice; other choices sent from it (a page restored,
    then changed) are a checkout of their own, never the earlier choice's invoice; the same
    choices sent from another page find the invoice waiting for them (SAME_CART_WAITS)."""
    chosen = [str(plan_id or ""), *sorted(map(str, bundle_ids)), "|", *sorted(map(str, add_on_ids))]
    return hashlib.sha256(",".join(chosen).encode()).hexdigest()[:32]


def invoice_pay(*, invoice_id: UUID, user_id: UUID) -> str:
    """Where the user pays their pending invoice. Raises PaymentsUnavailable, NotFound (also
    for another user's invoice), InvalidState unless pending, PaymentProviderError."""
    return billing.invoice_pay_start(
        invoice_id=invoice_id, user_id=user_id, provider=payment_provider()
    ).checkout_url


def purchase_success_url(invoice: Invoice) -> str:
    return f"{reverse('pages:purchase-success')}?invoice={invoice.pk}"
