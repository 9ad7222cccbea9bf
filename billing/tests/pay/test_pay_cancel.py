from datetime import timedelta
from functools import partial

import pytest
from django.db import connections
from django.utils import timezone

from billing.models import Invoice
from billing.services import invoice_mark_paid
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


def _in_another_tab(action, meanwhile: dict):
    """`action` run while Stripe makes the paying tab's new session, on a connection of its
    own; the database as it left it is kept in `meanwhile["state"]`."""

    def run() -> None:
        try:
            action()
            meanwhile["state"] = database_state()
        finally:
            connections.close_all()

    return run


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("meanwhile_done", ["cancelled", "marked_paid"])
def test_a_session_made_while_the_invoice_stopped_waiting_is_expired_at_once(
    user, invoice, fake_stripe, meanwhile_done
):
    """The customer clicks Pay, and while Stripe makes the session the invoice is cancelled in
    another tab (or staff mark it paid). Before, the pay was 409 but its new session stayed
    open at Stripe for up to 24 hours, recorded nowhere: no cancel, sweep or reconciliation
    ended it, and a payment through it took money for an invoice that no longer waits for it.
    """
    paying = client_for(user)
    meanwhile: dict = {}
    if meanwhile_done == "cancelled":
        action = partial(cancel, client_for(user), invoice)
    else:
        action = partial(
            invoice_mark_paid, invoice_id=invoice.pk, payment_reference="bank-transfer-1"
        )
    fake_stripe.on_next_create(_in_another_tab(action, meanwhile))

    response = pay(paying, invoice)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert database_state() == meanwhile["state"]
    (made,) = fake_stripe.sessions.values()
    assert made["status"] == "expired"


@pytest.mark.django_db(transaction=True)
def test_a_session_not_stored_that_took_a_payment_is_left_to_its_webhook(
    user, invoice, fake_stripe, api_client, caplog
):
    """Stripe has taken the customer's money on the session by the time it is asked to
    expire it: it cannot be expired, and its webhook flags the payment for review (the
    invoice it names is cancelled) rather than crediting it."""
    meanwhile: dict = {}

    def cancel_and_pay_at_stripe() -> None:
        cancel(client_for(user), invoice)
        (made,) = fake_stripe.sessions
        meanwhile["completed"] = fake_stripe.complete(made)

    fake_stripe.on_next_create(_in_another_tab(cancel_and_pay_at_stripe, meanwhile))

    response = pay(client_for(user), invoice)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert database_state() == meanwhile["state"]
    assert "has taken a payment or one is on its way" in caplog.text
    assert stripe_says(api_client, fake_stripe, meanwhile["completed"]) == "needs_review"
    assert Invoice.objects.get(pk=invoice.pk).status == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_a_session_not_stored_that_stripe_cannot_expire_is_409_and_logged(
    user, invoice, fake_stripe, caplog
):
    """Stripe fails when asked to expire the session the cancelled invoice refused: the
    customer is still told why they cannot pay (409, not a 502 about Stripe)."""
    meanwhile: dict = {}

    def cancel_then_stripe_fails() -> None:
        cancel(client_for(user), invoice)
        fake_stripe.fail_next()

    fake_stripe.on_next_create(_in_another_tab(cancel_then_stripe_fails, meanwhile))

    response = pay(client_for(user), invoice)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert database_state() == meanwhile["state"]
    assert "was not expired" in caplog.text
