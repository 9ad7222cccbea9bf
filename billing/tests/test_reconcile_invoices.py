from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing import signals
from billing.models import (
    Invoice,
    TokenBundlePurchase,
)
from billing.tests.helpers import checkout
from billing.tests.reconcile_helpers import reconcile, with_stripe_session
from catalog.tests.factories import PlanFactory
from tokens.models import TokenAccount, TokenTransaction

pytestmark = pytest.mark.django_db


def test_a_paid_invoice_whose_tokens_were_not_credited_is_completed_once(user, bundle):
    """Marked paid by hand in the database, so nothing was delivered."""
    invoice = checkout(user, plan=PlanFactory(), bundles=[bundle]).invoice
    Invoice.objects.filter(pk=invoice.pk).update(
        status="paid", paid_at=timezone.now(), provider="payment", payment_reference="p"
    )
    assert TokenBundlePurchase.objects.get(invoice=invoice).status == "pending"

    first, code = reconcile()
    second, _ = reconcile()

    assert (code, first["paid_invoices_completed"], second["paid_invoices_completed"]) == (0, 1, 0)
    assert TokenBundlePurchase.objects.get(invoice=invoice).status == "completed"
    assert TokenAccount.objects.get(user=user).balance == 1000
    assert TokenTransaction.objects.filter(transaction_type="purchase").count() == 1


def test_a_capture_that_failed_is_completed_from_stripe_once(
    user, user_client, bundle, fake_stripe
):
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=2))
    body, header = fake_stripe.signed(fake_stripe.complete(session))

    def broken(sender, **kwargs):
        raise RuntimeError("a receiver is down")

    signals.invoice_paid.connect(broken, dispatch_uid="test.broken")
    try:
        delivered = Client(raise_request_exception=False).post(
            "/api/v1/webhooks/stripe",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
    finally:
        signals.invoice_paid.disconnect(dispatch_uid="test.broken")
    assert delivered.status_code == 500
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"

    first, _ = reconcile()
    second, _ = reconcile()

    assert (first["invoices_captured"], second["invoices_captured"]) == (1, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert TokenAccount.objects.get(user=user).balance == 1000
    assert TokenTransaction.objects.filter(transaction_type="purchase").count() == 1


def test_expired_and_too_old_sessions_are_cancelled_young_open_ones_kept(
    user, user_client, bundle, fake_stripe
):
    expired = checkout(user, bundles=[bundle]).invoice
    fake_stripe.expire(
        with_stripe_session(expired, fake_stripe, user_client, age=timedelta(hours=2))
    )
    too_old = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(too_old, fake_stripe, user_client, age=timedelta(hours=80))
    open_young = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(open_young, fake_stripe, user_client, age=timedelta(hours=3))
    fresh = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(fresh, fake_stripe, user_client, age=timedelta(minutes=10))

    report, _ = reconcile()

    assert (report["stripe_sessions_checked"], report["invoices_cancelled"]) == (3, 2)
    statuses = {i.pk: i.status for i in Invoice.objects.all()}
    assert [statuses[i.pk] for i in (expired, too_old, open_young, fresh)] == [
        "cancelled",
        "cancelled",
        "pending",
        "pending",
    ]
    # The too old invoice's session was still open: Stripe no longer takes a payment on it.
    too_old_session = Invoice.objects.get(pk=too_old.pk).stripe_session_id
    assert fake_stripe.sessions[too_old_session]["status"] == "expired"


def test_a_too_old_invoice_whose_payment_is_on_its_way_is_kept(
    user, user_client, bundle, fake_stripe
):
    """A bank debit completes its session unpaid; the money comes days later."""
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=80))
    fake_stripe.sessions[session].update(status="complete", payment_status="unpaid")

    report, code = reconcile()

    assert (code, report["invoices_cancelled"]) == (0, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"


def test_an_invoice_whose_session_stripe_does_not_know_is_cancelled_once_too_old(
    user, user_client, bundle, fake_stripe
):
    """Sessions made with the other mode's keys (test or live) before they were switched.
    Before, each run reported a Stripe error for them (exit 3) and they stayed pending."""
    too_old = checkout(user, bundles=[bundle]).invoice
    del fake_stripe.sessions[
        with_stripe_session(too_old, fake_stripe, user_client, age=timedelta(hours=80))
    ]
    young = checkout(user, bundles=[bundle]).invoice
    del fake_stripe.sessions[
        with_stripe_session(young, fake_stripe, user_client, age=timedelta(hours=3))
    ]

    report, code = reconcile()

    assert (code, report["stripe_errors"], report["invoices_cancelled"]) == (0, [], 1)
    assert Invoice.objects.get(pk=too_old.pk).status == "cancelled"
    assert TokenBundlePurchase.objects.get(invoice=too_old).status == "cancelled"
    assert Invoice.objects.get(pk=young.pk).status == "pending"


def test_a_too_old_invoice_whose_bank_debit_failed_is_cancelled(
    user, user_client, bundle, fake_stripe
):
    """Kept for ever as a payment on its way: its session stays complete at Stripe."""
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=80))
    fake_stripe.complete_unpaid(session)
    fake_stripe.debit_failed(session)

    report, code = reconcile()

    assert (code, report["invoices_cancelled"]) == (0, 1)
    assert Invoice.objects.get(pk=invoice.pk).status == "cancelled"
