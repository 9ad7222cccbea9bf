"""Paying an invoice under real concurrency and a real crash on PostgreSQL: our capture
webhook and Stripe's for one invoice at once, a capture whose process is SIGKILLed inside its
transaction, and two checkouts with one Idempotency-Key and different carts at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal

import psycopg
import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing.models import Invoice, PaymentEvent, TokenBundlePurchase
from billing.tests.helpers import checkout, deliver, payment_body, signature
from billing.tests.stripe_webhook_helpers import send
from catalog.tests.factories import TokenBundleFactory
from common.models import IdempotencyRecord
from common.tests.concurrency import run_together
from common.tests.servers import the_test_database, workers_waiting_on_a_lock
from common.tests.servers.postgres import database_url
from conftest import client_for
from tokens.models import TokenAccount, TokenTransaction

pytestmark = pytest.mark.django_db(transaction=True)

# The capture webhook's delivery, handled in a process of its own (as a gunicorn worker
# would), so that the test can SIGKILL it.
DELIVERY = """
import sys
import django
django.setup()
from django.conf import settings
from billing.services.payment_webhook import payment_webhook_process
payment_webhook_process(
    raw_body=sys.argv[1].encode(),
    signature_header=sys.argv[2],
    secrets=settings.PAYMENT_WEBHOOK_SECRETS,
    forgery_recordable=lambda: True,
)
"""
PURCHASES_LOCK = "SELECT 1 FROM billing_tokenbundlepurchase WHERE invoice_id = %s FOR UPDATE"


@pytest.fixture
def bundle():
    return TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))


def test_our_webhook_and_stripes_paying_one_invoice_at_once_credit_it_once(bundle, fake_stripe):
    """Whichever captures first, the other payment is refused and flagged for a person to
    refund: the tokens are credited once."""
    for round_number in range(3):
        user = UserFactory()
        invoice = checkout(user, bundles=[bundle]).invoice
        paid = client_for(user).post(
            f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"}
        )
        stripe_paid = fake_stripe.complete(paid.json()["session_id"])
        ours = payment_body(
            invoice, event_id=f"evt-{round_number}", payment_reference=f"pay-{round_number}"
        )

        run_together(
            [
                lambda ours=ours: deliver(APIClient(), ours),
                lambda event=stripe_paid: send(APIClient(), fake_stripe, event),
            ],
            workers=2,
        )

        assert Invoice.objects.get(pk=invoice.pk).status == "paid"
        assert TokenAccount.objects.get(user=user).balance == 1000
        events = PaymentEvent.objects.filter(invoice=invoice)
        assert sorted(events.values_list("outcome", flat=True)) == ["needs_review", "processed"]


def test_a_capture_killed_inside_its_transaction_leaves_nothing_and_its_retry_credits_once(
    bundle,
):
    """The delivery's process is SIGKILLed once the invoice is marked paid in its
    transaction, waiting for the purchases: nothing of it persists, and the provider's retry
    of the same delivery captures the invoice and credits its tokens once."""
    user = UserFactory()
    invoice = checkout(user, bundles=[bundle]).invoice
    body = payment_body(invoice)
    environment = {**os.environ, "DATABASE_URL": database_url(**the_test_database())}
    with psycopg.connect(**the_test_database()) as holder:
        holder.execute(PURCHASES_LOCK, [invoice.pk])
        delivery = subprocess.Popen(
            [sys.executable, "-c", DELIVERY, body.decode(), signature(body)], env=environment
        )
        (waiting,) = workers_waiting_on_a_lock(the_test_database())
        assert waiting == delivery.pid
        os.kill(delivery.pid, signal.SIGKILL)
        delivery.wait(10)
        holder.rollback()
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"
    assert not PaymentEvent.objects.exists()

    response = deliver(APIClient(), body)

    assert (response.status_code, response.json()["status"]) == (200, "success")
    assert TokenAccount.objects.get(user=user).balance == 1000
    assert TokenTransaction.objects.filter(account__user=user).count() == 1
    assert TokenBundlePurchase.objects.get(invoice=invoice).status == "completed"
    assert list(PaymentEvent.objects.values_list("outcome", flat=True)) == ["processed"]


def test_two_checkouts_with_one_key_and_different_carts_at_once_make_one_invoice(bundle):
    """One is created; the other is refused as the key reused (422) and writes nothing."""
    small = TokenBundleFactory(token_amount=10, price=Decimal("1.00"))
    user = UserFactory()
    carts = [{"token_bundle_ids": [str(bundle.pk)]}, {"token_bundle_ids": [str(small.pk)]}]

    responses = run_together(
        [
            lambda cart=cart: client_for(user).post(
                "/api/v1/user/checkout", cart, format="json", HTTP_IDEMPOTENCY_KEY="cart"
            )
            for cart in carts
        ],
        workers=2,
    )

    answers = sorted((response.status_code, response.json().get("code")) for response in responses)
    assert answers == [(201, None), (422, "idempotency_key_reused")]
    assert Invoice.objects.filter(user=user).count() == 1
    assert IdempotencyRecord.objects.filter(user=user).count() == 1
