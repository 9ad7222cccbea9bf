from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from billing.models import Invoice
from billing.tests.pay.helpers import pay, stripe_says
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = pytest.mark.django_db


def mark_paid(client, invoice):
    return client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": "wire-2026-7"}
    )


def test_marking_paid_ends_the_open_stripe_session_first(
    user_client, staff_client, invoice, fake_stripe
):
    """The customer paid by bank transfer with their Stripe tab still open; marked paid, the
    invoice kept that session open, and Stripe took a second payment for it (needs_review,
    a refund to make by hand)."""
    session = pay(user_client, invoice).json()["session_id"]

    response = mark_paid(staff_client, invoice)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["provider"]) == ("paid", "manual")
    assert fake_stripe.sessions[session]["status"] == "expired"


def test_marking_paid_after_stripe_took_the_payment_is_409_and_the_webhook_captures(
    user_client, staff_client, api_client, user, invoice, fake_stripe
):
    """The Stripe payment's webhook had not come yet: staff marking it paid by hand made the
    customer's Stripe payment a second one, for a paid invoice (needs_review)."""
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)
    before = database_state()

    response = mark_paid(staff_client, invoice)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert "Stripe has taken a payment" in response.json()["error"]
    assert database_state() == before
    assert stripe_says(api_client, fake_stripe, completed) == "processed"
    assert Invoice.objects.get(pk=invoice.pk).provider == "stripe"


def test_marking_paid_while_stripe_cannot_be_asked_is_502_and_changes_nothing(
    user_client, staff_client, invoice, fake_stripe
):
    pay(user_client, invoice)
    fake_stripe.fail_next(1)
    before = database_state()

    response = mark_paid(staff_client, invoice)

    assert (response.status_code, response.json()["code"]) == (502, "payment_provider_error")
    assert database_state() == before


@pytest.mark.django_db(transaction=True)
def test_marking_paid_while_the_customer_starts_a_payment_is_409_and_keeps_that_payment(
    user, staff_client, invoice, fake_stripe
):
    """The stored session is near its end, so the customer's pay makes a new one while
    Stripe expires the old one for staff: marking it paid must not leave that new session
    open on a paid invoice."""
    paying = client_for(user)
    old_session = pay(paying, invoice).json()["session_id"]
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_session_expires_at=timezone.now() + timedelta(minutes=5)
    )
    meanwhile = {}

    def pay_in_the_customers_tab() -> None:
        try:
            meanwhile["paid"] = pay(paying, invoice)
            meanwhile["state"] = database_state()
        finally:
            connections.close_all()

    fake_stripe.on_next_expire(pay_in_the_customers_tab)

    response = mark_paid(staff_client, invoice)

    new_session = meanwhile["paid"].json()["session_id"]
    assert new_session != old_session
    assert (response.status_code, response.json()) == (
        409,
        {
            "error": "A payment was started for this invoice meanwhile; mark it paid again "
            "to end it too.",
            "code": "invalid_state",
        },
    )
    assert database_state() == meanwhile["state"]
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.status, stored.stripe_session_id) == ("pending", new_session)
    assert fake_stripe.sessions[new_session]["status"] == "open"
