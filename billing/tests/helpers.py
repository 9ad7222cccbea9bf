"""Billing test helpers (not factories: these go through the services): checkouts, captures,
signed deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import time_machine
from django.db import models
from prometheus_client import REGISTRY

from billing import services
from billing.models import Invoice

PAYMENT_SECRET = "whsec_tests_payment_current"
WEBHOOK = "/api/v1/webhooks/payment"
M = TypeVar("M", bound=models.Model)


def checkout(user, *, plan=None, bundles=(), add_ons=(), key: str = "") -> services.CheckoutResult:
    return services.checkout_create(
        user_id=user.pk,
        plan_id=plan.pk if plan else None,
        token_bundle_ids=[bundle.pk for bundle in bundles],
        add_on_ids=[add_on.pk for add_on in add_ons],
        idempotency_key=key,
    )


def capture(invoice: Invoice, reference: str = "pay-1") -> services.CaptureResult:
    return services.invoice_capture(
        invoice_id=invoice.pk,
        payment_reference=reference,
        provider=Invoice.Provider.PAYMENT,
        amount=invoice.total,
        currency=invoice.currency.code,
    )


def monthly_paid(user, at: datetime, reference: str, model: type[M], **items) -> M:
    """The monthly period (a `Subscription` or `AddOnSubscription`) of a checkout of `items`
    made and paid at `at`."""
    with time_machine.travel(at, tick=False):
        invoice = checkout(user, **items).invoice
        capture(invoice, reference=reference)
    return model.objects.get(invoice=invoice, billing_period="monthly")


def signature(body: bytes, *, secret: str = PAYMENT_SECRET, at: float | None = None) -> str:
    timestamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def payment_body(invoice: Invoice, **overrides) -> bytes:
    fields = {
        "event_id": "evt-1",
        "invoice_id": str(invoice.pk),
        "payment_reference": "pay-1",
        "amount": str(invoice.total),
        "currency": invoice.currency.code,
        **overrides,
    }
    return json.dumps({key: value for key, value in fields.items() if value is not None}).encode()


def deliver(client, body: bytes, header: str | None = "sign"):
    """Posts a capture webhook; `header="sign"` signs the body with the test secret."""
    headers = {}
    if header is not None:
        headers["HTTP_X_PAYMENT_SIGNATURE"] = signature(body) if header == "sign" else header
    return client.post(WEBHOOK, data=body, content_type="application/json", **headers)


def money(value: str) -> Decimal:
    return Decimal(value)


def refused_count(provider: str, reason: str) -> float:
    """Webhook deliveries of `provider` refused with `reason`, as /metrics counts them."""
    labels = {"provider": provider, "reason": reason}
    return REGISTRY.get_sample_value("webhook_deliveries_refused_total", labels) or 0


def refund_and_capture_tries(monkeypatch) -> list[str]:
    """Each try of a refund and of a capture, by name: a second one means PostgreSQL rolled
    the first back to end a deadlock (`once_more_if_rolled_back_for_another`)."""
    from billing.services import capture as capture_service
    from billing.services import refunds

    tries: list[str] = []
    for module, name in ((refunds, "_refund"), (capture_service, "_capture_once")):
        work = getattr(module, name)

        def counting(*args, _work=work, _name=name):
            tries.append(_name)
            return _work(*args)

        monkeypatch.setattr(module, name, counting)
    return tries
