import json
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services
from billing.models import (
    Invoice,
)
from billing.tests.helpers import checkout
from billing.tests.reconcile_helpers import paid_with_stripe, reconcile
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_a_paid_invoice_stripe_does_not_know_is_reported_and_nothing_changes(
    user, user_client, bundle, fake_stripe
):
    known = paid_with_stripe(user, user_client, bundle, fake_stripe)
    forged = checkout(user, bundles=[bundle]).invoice
    services.invoice_capture(
        invoice_id=forged.pk, payment_reference="pi_never_seen", provider="stripe"
    )
    before = database_state()

    report, code = reconcile()

    assert code == 4
    assert report["paid_invoices_verified"] == 2
    assert report["unknown_to_provider"] == [
        f"{forged.number}: paid here with pi_never_seen; Stripe does not know this payment"
    ]
    assert known.number not in json.dumps(report)
    assert database_state() == before


def test_a_404_that_is_not_stripes_answer_is_an_error_not_an_unknown_payment(
    user, user_client, bundle, fake_stripe, settings
):
    """A 404 without Stripe's `resource_missing` (a wrong STRIPE_API_BASE, a proxy's page)
    says nothing about the payment: told as "Stripe does not know this payment", every paid
    invoice would look captured without a payment, and the night's operator would chase a
    fraud that is a typo."""
    paid = paid_with_stripe(user, user_client, bundle, fake_stripe)
    settings.STRIPE_API_BASE = f"{fake_stripe.base}/elsewhere"

    report, code = reconcile()

    assert code == 3
    assert report["unknown_to_provider"] == []
    assert [line.split(":")[0] for line in report["stripe_errors"]] == [
        "Stripe events",
        paid.number,
    ]


def test_a_payment_stripe_took_for_another_amount_or_did_not_complete_is_reported(
    user, user_client, bundle, fake_stripe
):
    short = paid_with_stripe(user, user_client, bundle, fake_stripe)
    fake_stripe.payment_intents[short.payment_reference]["amount_received"] = 100
    failed = paid_with_stripe(user, user_client, bundle, fake_stripe)
    fake_stripe.payment_intents[failed.payment_reference]["status"] = "requires_payment_method"
    fake_stripe.payment_intents[failed.payment_reference]["amount_received"] = 0

    report, code = reconcile()

    assert code == 4
    assert sorted(report["unknown_to_provider"]) == sorted(
        [
            f"{short.number}: paid here with {short.payment_reference} for 5.00 USD; "
            "Stripe says succeeded, 1.00 USD",
            f"{failed.number}: paid here with {failed.payment_reference} for 5.00 USD; "
            "Stripe says requires_payment_method, 0.00 USD",
        ]
    )


def payments_asked(fake_stripe) -> int:
    return sum(asked.path.startswith("/v1/payment_intents/") for asked in fake_stripe.requests)


def test_only_invoices_paid_through_stripe_within_the_window_are_asked_about(
    user, user_client, bundle, fake_stripe
):
    old = paid_with_stripe(user, user_client, bundle, fake_stripe)
    Invoice.objects.filter(pk=old.pk).update(paid_at=timezone.now() - timedelta(hours=30))
    capture_with_webhook = checkout(user, bundles=[bundle]).invoice
    services.invoice_capture(
        invoice_id=capture_with_webhook.pk, payment_reference="p-1", provider="payment"
    )
    asked = payments_asked(fake_stripe)

    default, _ = reconcile()
    wider, _ = reconcile("--verify-paid-within", "2d")

    assert default["paid_invoices_verified"] == 0
    assert wider["paid_invoices_verified"] == 1
    assert payments_asked(fake_stripe) - asked == 1
