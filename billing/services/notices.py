"""What billing tells the seller's systems (events.services emits them in the transaction of
the change): plain data, with ids, amounts as decimal strings and UTC times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from billing.models import Invoice, Subscription, TokenBundlePurchase
from common.api.fields import money_text
from events.services import Notice


def _invoice(invoice: Invoice) -> dict:
    return {
        "invoice_id": str(invoice.pk),
        "user_id": str(invoice.user_id),
        "number": invoice.number,
        "status": invoice.status,
        "total": money_text(invoice.total, invoice.currency.decimal_places),
        "currency": invoice.currency.code,
    }


def invoice_created(invoice: Invoice) -> Notice:
    return Notice("invoice.created", _invoice(invoice))


def invoice_paid(
    invoice: Invoice,
    purchases: Sequence[TokenBundlePurchase],
    subscriptions: Sequence[tuple],
) -> list[Notice]:
    """`invoice.paid`, `tokens.purchased` when it bought tokens and `subscription.activated`
    for each subscription it started (`subscriptions`: id, plan name, start, end)."""
    paid = {
        **_invoice(invoice),
        "paid_at": invoice.paid_at,
        "provider": invoice.provider,
        "payment_reference": invoice.payment_reference,
    }
    notices = [Notice("invoice.paid", paid)]
    if purchases:
        notices.append(
            Notice(
                "tokens.purchased",
                {
                    "user_id": str(invoice.user_id),
                    "invoice_id": str(invoice.pk),
                    "tokens": sum(purchase.tokens for purchase in purchases),
                    "purchases": [
                        {"purchase_id": str(p.pk), "name": p.name, "tokens": p.tokens}
                        for p in purchases
                    ],
                },
            )
        )
    notices += [
        _activated(invoice.user_id, invoice.pk, subscription_id, plan_name, starts_at, expires_at)
        for subscription_id, plan_name, starts_at, expires_at in subscriptions
    ]
    return notices


def subscriptions_moved(user_id: UUID, moved: Sequence[tuple]) -> list[Notice]:
    """`subscription.activated` again for each renewal a refund moved up (`moved`: id,
    invoice id, plan name, new start, new end): its dates are no longer those announced when
    it was paid."""
    return [
        _activated(user_id, invoice_id, subscription_id, plan_name, starts_at, expires_at)
        for subscription_id, invoice_id, plan_name, starts_at, expires_at in moved
    ]


def _activated(
    user_id: UUID,
    invoice_id: UUID,
    subscription_id: UUID,
    plan_name: str,
    starts_at: datetime,
    expires_at: datetime | None,
) -> Notice:
    return Notice(
        "subscription.activated",
        {
            "subscription_id": str(subscription_id),
            "user_id": str(user_id),
            "invoice_id": str(invoice_id),
            "plan_name": plan_name,
            "starts_at": starts_at,
            "expires_at": expires_at,
        },
    )


def invoice_refunded(invoice: Invoice, *, tokens_reversed: int, tokens_unrecovered: int) -> Notice:
    return Notice(
        "invoice.refunded",
        {
            **_invoice(invoice),
            "refunded_at": invoice.refunded_at,
            "tokens_reversed": tokens_reversed,
            "tokens_unrecovered": tokens_unrecovered,
        },
    )


def subscription_expired(subscription: Subscription) -> Notice:
    return Notice(
        "subscription.expired",
        {
            "subscription_id": str(subscription.pk),
            "user_id": str(subscription.user_id),
            "plan_name": subscription.plan_name,
            "expires_at": subscription.expires_at,
        },
    )
