"""Running reconcile and faking Stripe's answers: shared by the test_reconcile* modules."""

import json
from datetime import timedelta
from io import StringIO

from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from billing.models import (
    Invoice,
)
from billing.tests.helpers import checkout


def reconcile(*options: str) -> tuple[dict, int]:
    out = StringIO()
    try:
        call_command("reconcile_purchases", "--json", *options, stdout=out)
        code = 0
    except CommandError as error:
        code = error.returncode
    text = out.getvalue()
    return (json.loads(text) if text.strip() else {}), code


def with_stripe_session(invoice, fake_stripe, user_client, *, age: timedelta) -> str:
    session = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"})
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_session_created_at=timezone.now() - age, created_at=timezone.now() - age
    )
    return session.json()["session_id"]


def delivered(fake_stripe, event: dict) -> str:
    """Delivers a Stripe event to the webhook; its outcome."""
    body, header = fake_stripe.signed(event)
    response = Client().post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    return response.json()["outcome"]


def paid_with_stripe(user, user_client, bundle, fake_stripe) -> Invoice:
    """An invoice paid through Stripe Checkout and captured by its webhook."""
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(minutes=5))
    assert delivered(fake_stripe, fake_stripe.complete(session)) == "processed"
    return Invoice.objects.get(pk=invoice.pk)
