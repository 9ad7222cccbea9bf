"""The checkout's answer as plain dicts: the same JSON as CheckoutResponseSerializer, which
stays the schema's description of it. Building it through the nested ModelSerializers cost a
third of a checkout's time in process (billing/tests/test_bodies.py holds the two equal)."""

from __future__ import annotations

from django.urls import reverse

from billing.models import (
    AddOnSubscription,
    Invoice,
    InvoiceLineItem,
    Subscription,
    TokenBundlePurchase,
)
from billing.receipts import receipt_exists
from billing.services import CheckoutResult
from common.api.fields import api_time, money_text


def checkout_body(result: CheckoutResult, *, message: str, next_step: dict) -> dict:
    places = result.invoice.currency.decimal_places
    return {
        "subscription": _subscription(result.subscription) if result.subscription else None,
        "invoice": invoice_body(result.invoice, result.lines),
        "token_bundles": [_purchase(purchase, places) for purchase in result.purchases],
        "add_ons": [_add_on(add_on) for add_on in result.add_ons],
        "message": message,
        "next_step": next_step,
    }


def invoice_body(invoice: Invoice, lines: list[InvoiceLineItem]) -> dict:
    """InvoiceSerializer's answer, with the line items given in their order."""
    currency = invoice.currency
    places = currency.decimal_places
    return {
        "id": str(invoice.pk),
        "number": invoice.number,
        "status": invoice.status,
        "currency": {"id": str(currency.pk), "code": currency.code, "symbol": currency.symbol},
        "subtotal": money_text(invoice.subtotal, places),
        "total_amount": money_text(invoice.total, places),
        "line_items": [_line(line, places) for line in lines],
        "created_at": api_time(invoice.created_at),
        "paid_at": api_time(invoice.paid_at),
        "payment_reference": invoice.payment_reference,
        "pdf_url": (
            reverse("billing:invoice-pdf", args=[invoice.pk]) if receipt_exists(invoice) else None
        ),
    }


def _line(line: InvoiceLineItem, places: int) -> dict:
    return {
        "id": str(line.pk),
        "item_type": line.item_type,
        "item_id": str(line.item_id),
        "description": line.description,
        "quantity": line.quantity,
        "unit_price": money_text(line.unit_price, places),
        "total_price": money_text(line.total_price, places),
    }


def _subscription(subscription: Subscription) -> dict:
    return {
        "id": str(subscription.pk),
        "plan_id": str(subscription.plan_id),
        "plan_name": subscription.plan_name,
        "status": subscription.status,
        "starts_at": api_time(subscription.starts_at),
        "expires_at": api_time(subscription.expires_at),
    }


def _purchase(purchase: TokenBundlePurchase, places: int) -> dict:
    return {
        "id": str(purchase.pk),
        "bundle_id": str(purchase.bundle_id),
        "name": purchase.name,
        "tokens": purchase.tokens,
        "unit_price": money_text(purchase.unit_price, places),
        "status": purchase.status,
        "completed_at": api_time(purchase.completed_at),
    }


def _add_on(add_on: AddOnSubscription) -> dict:
    return {
        "id": str(add_on.pk),
        "add_on_id": str(add_on.add_on_id),
        "name": add_on.name,
        "subscription_id": str(add_on.subscription_id),
        "status": add_on.status,
        "starts_at": api_time(add_on.starts_at),
        "expires_at": api_time(add_on.expires_at),
    }
