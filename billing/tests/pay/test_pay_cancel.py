from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from billing.models import Invoice
from billing.tests.pay.helpers import pay, stripe_says
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = pytest.mark.django_db


def cancel(client, invoice):
    return client.post(f"/api/v1/user/invoices/{invoice.pk}/cancel")


def test_cancelling_ends_the_open_stripe_session_first(user_client, invoice, fake_stripe):
    """Before, the customer's open Stripe tab still took the money of the cancelled invoice,
    which then credited nothing."""
    session = pay(user_client, invoice).json()["session_id"]

    response = cancel(user_client, invoice)

    assert response.status_code == 200
    assert fake_stripe.sessions[session]["status"] == "expired"
    assert Invoice.objects.get(pk=invoice.pk).status == "cancelled"


def test_cancelling_after_stripe_took_the_payment_is_409_and_the_webhook_captures(
    user_client, user, invoice, fake_stripe, api_client
):
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)  # paid; Stripe's webhook not delivered yet
    before = database_state()

    response = cancel(user_client, invoice)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert "Stripe has taken a payment" in response.json()["error"]
    assert database_state() == before
    body, signature = fake_stripe.signed(completed)
    delivered = api_client.post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    assert delivered.json()["outcome"] == "processed"
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_cancelling_an_invoice_whose_session_stripe_does_not_know_cancels_it(
    user_client, invoice, fake_stripe
):
    """The session was made with the other mode's keys (test or live) before they were
    switched: Stripe answers 404 `resource_missing` to expiring and to retrieving it. Before,
    every cancel (API, pages, admin, reconciliation) was 502 and the invoice pending for ever.
    """
    session = pay(user_client, invoice).json()["session_id"]
    del fake_stripe.sessions[session]

    response = cancel(user_client, invoice)

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert Invoice.objects.get(pk=invoice.pk).status == "cancelled"
    assert {purchase.status for purchase in invoice.token_purchases.all()} == {"cancelled"}
    assert invoice.subscriptions.get().status == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_cancelling_while_another_tab_starts_a_payment_is_409_and_keeps_that_payment(
    user, invoice, fake_stripe
):
    """One tab cancels while another pays. The stored session is near its end, so paying
    makes a new one; it does so while Stripe expires the old one for the cancel. The cancel
    must not end the invoice whose new session the customer is paying on."""
    cancelling, paying = client_for(user), client_for(user)
    old_session = pay(paying, invoice).json()["session_id"]
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_session_expires_at=timezone.now() + timedelta(minutes=5)
    )
    meanwhile = {}

    def pay_in_the_other_tab() -> None:
        try:
            meanwhile["paid"] = pay(paying, invoice)
            meanwhile["state"] = database_state()
        finally:
            connections.close_all()

    fake_stripe.on_next_expire(pay_in_the_other_tab)

    response = cancel(cancelling, invoice)

    new_session = meanwhile["paid"].json()["session_id"]
    assert new_session != old_session
    assert (response.status_code, response.json()) == (
        409,
        {
            "error": "A payment was started for this invoice meanwhile; cancel it again to "
            "end it too.",
            "code": "invalid_state",
        },
    )
    assert database_state() == meanwhile["state"]
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.status, stored.stripe_session_id) == ("pending", new_session)
    assert fake_stripe.sessions[old_session]["status"] == "expired"
    assert fake_stripe.sessions[new_session]["status"] == "open"


@pytest.mark.parametrize("fault", ["failing", "not_listening", "another_address"])
def test_cancelling_while_stripe_cannot_be_asked_is_502_and_changes_nothing(
    user_client, invoice, fake_stripe, settings, fault
):
    """`another_address`: a 404 that is not Stripe's `resource_missing` (an address it does
    not serve, a proxy's answer) says nothing about the session, so it ends nothing."""
    pay(user_client, invoice)
    if fault == "failing":
        fake_stripe.fail_next()
    elif fault == "not_listening":
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    else:
        settings.STRIPE_API_BASE = f"{fake_stripe.base}/elsewhere"
    before = database_state()

    response = cancel(user_client, invoice)

    assert (response.status_code, response.json()["code"]) == (502, "payment_provider_error")
    assert database_state() == before


def test_cancelling_while_a_bank_debit_is_on_its_way_is_409(
    user_client, api_client, invoice, fake_stripe
):
    session = pay(user_client, invoice).json()["session_id"]
    stripe_says(api_client, fake_stripe, fake_stripe.complete_unpaid(session))
    before = database_state()

    response = cancel(user_client, invoice)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert database_state() == before


def test_an_invoice_whose_bank_debit_failed_can_be_cancelled(
    user_client, api_client, invoice, fake_stripe
):
    """The session of a failed bank debit stays complete at Stripe (it cannot be expired):
    every cancel was 409 "Stripe has taken a payment", for good, though nothing was paid."""
    session = pay(user_client, invoice).json()["session_id"]
    stripe_says(api_client, fake_stripe, fake_stripe.complete_unpaid(session))
    stripe_says(api_client, fake_stripe, fake_stripe.debit_failed(session))

    response = cancel(user_client, invoice)

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert Invoice.objects.get(pk=invoice.pk).status == "cancelled"
