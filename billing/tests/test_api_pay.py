from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import Invoice, Subscription, minor_units
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(user):
    bundle = TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.99"))
    plan = PlanFactory(name="Monthly", price=Decimal("29.00"))
    return checkout(user, plan=plan, bundles=[bundle, bundle]).invoice


def pay(client, invoice, body=None):
    payload = {"provider": "stripe"} if body is None else body
    return client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", payload)


def test_pay_creates_a_checkout_session_with_the_invoice_in_cents(
    user_client, user, invoice, fake_stripe, settings
):
    response = pay(user_client, invoice)

    assert response.status_code == 200
    body = response.json()
    assert body["provider"] == "stripe"
    assert body["checkout_url"] == fake_stripe.sessions[body["session_id"]]["url"]
    [sent] = fake_stripe.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["Idempotency-Key"] == f"checkout-session:{invoice.pk}:first"
    params = sent.params
    assert params["client_reference_id"] == str(invoice.pk)
    assert params["metadata"] == {"invoice_id": str(invoice.pk), "invoice_number": invoice.number}
    assert params["customer_email"] == user.email
    assert [
        (line["quantity"], line["price_data"]["unit_amount"], line["price_data"]["currency"])
        for line in params["line_items"]
    ] == [("1", "2900", "usd"), ("2", "4599", "usd")]
    assert params["success_url"].startswith(f"{settings.SITE_URL}/purchase/success?invoice=")
    assert "{CHECKOUT_SESSION_ID}" in params["success_url"]
    assert params["cancel_url"] == f"{settings.SITE_URL}/purchase/cancel?invoice={invoice.pk}"
    assert fake_stripe.sessions[body["session_id"]]["amount_total"] == 12098
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.stripe_session_id, stored.status) == (body["session_id"], "pending")


def test_paying_again_hands_out_the_same_session_without_asking_stripe(
    user_client, invoice, fake_stripe
):
    first = pay(user_client, invoice)

    again = pay(user_client, invoice)

    assert again.json() == first.json()
    assert len(fake_stripe.requests) == 1


def test_a_session_near_its_end_is_replaced_with_a_new_key(user_client, invoice, fake_stripe):
    first = pay(user_client, invoice).json()
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_session_expires_at=timezone.now() + timedelta(minutes=5)
    )

    second = pay(user_client, invoice).json()

    assert second["session_id"] != first["session_id"]
    expired, created = fake_stripe.requests[1:]
    # The old session can no longer take a payment: one invoice, one way to pay it.
    assert expired.path == f"/v1/checkout/sessions/{first['session_id']}/expire"
    assert fake_stripe.sessions[first["session_id"]]["status"] == "expired"
    assert created.headers["Idempotency-Key"] == (
        f"checkout-session:{invoice.pk}:{first['session_id']}"
    )


def test_a_retry_after_a_lost_answer_gets_the_same_session_from_stripe(
    user_client, invoice, fake_stripe
):
    first = pay(user_client, invoice).json()
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_session_id="", stripe_session_expires_at=None
    )

    again = pay(user_client, invoice).json()

    assert again["session_id"] == first["session_id"]
    assert len(fake_stripe.sessions) == 1


@pytest.mark.parametrize("state", ["paid", "cancelled"])
def test_paying_a_paid_or_cancelled_invoice_is_409(user_client, invoice, fake_stripe, state):
    if state == "paid":
        capture(invoice)
    else:
        user_client.post(f"/api/v1/user/invoices/{invoice.pk}/cancel")
    before = database_state()

    response = pay(user_client, invoice)

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert database_state() == before
    assert fake_stripe.requests == []


def test_another_users_invoice_is_404(user_client, fake_stripe):
    theirs = checkout(UserFactory(), bundles=[TokenBundleFactory()]).invoice

    assert pay(user_client, theirs).status_code == 404
    assert fake_stripe.requests == []


@pytest.mark.parametrize("body", [{}, {"provider": "paypal"}, {"provider": ["stripe"]}])
def test_an_unknown_provider_is_400(user_client, invoice, fake_stripe, body):
    response = pay(user_client, invoice, body)

    assert response.status_code == 400
    assert "provider" in response.json()["fields"]


def test_stripe_failing_is_502_and_nothing_is_stored(user_client, invoice, fake_stripe):
    fake_stripe.fail_next(1)
    before = database_state()

    response = pay(user_client, invoice)

    assert response.status_code == 502
    assert response.json()["code"] == "payment_provider_error"
    assert database_state() == before


def test_stripe_not_configured_is_502(user_client, invoice, settings):
    settings.STRIPE_SECRET_KEY = ""

    response = pay(user_client, invoice)

    assert response.status_code == 502
    assert "not configured" in response.json()["error"]


@pytest.mark.parametrize(
    ("amount", "places", "minor"),
    [("5.00", 2, 500), ("0.99", 2, 99), ("123456.78", 2, 12345678), ("500", 0, 500)],
)
def test_minor_units_are_exact(amount, places, minor):
    assert minor_units(Decimal(amount), places) == minor


def test_minor_units_refuse_lost_precision():
    with pytest.raises(ValueError, match="decimal places"):
        minor_units(Decimal("5.5"), 0)


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


def test_replacing_a_session_that_stripe_has_been_paid_on_is_409(user_client, invoice, fake_stripe):
    first = pay(user_client, invoice).json()
    fake_stripe.complete(first["session_id"])
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_session_expires_at=timezone.now() + timedelta(minutes=5)
    )

    response = pay(user_client, invoice)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert len(fake_stripe.sessions) == 1


@pytest.mark.parametrize(
    ("email", "sent"),
    [
        pytest.param("kunde@exämple.com", "kunde@xn--exmple-cua.com", id="unicode-domain"),
        pytest.param("ünal@example.com", None, id="unicode-mailbox"),
    ],
)
def test_stripe_is_given_an_address_it_takes(fake_stripe, email, sent):
    """Stripe refuses an address that is not ASCII (every Pay was a 502): the domain goes in
    its xn-- form (where mail to it is sent), and a mailbox name it cannot take is left for
    Checkout to ask for."""
    customer = UserFactory(email=email)
    invoice = checkout(customer, bundles=[TokenBundleFactory()]).invoice

    response = pay(client_for(customer), invoice)

    assert response.status_code == 200
    [request] = fake_stripe.requests
    assert request.params.get("customer_email") == sent


def stripe_says(api_client, fake_stripe, event) -> str:
    body, signature = fake_stripe.signed(event)
    answer = api_client.post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    return answer.json()["outcome"]


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


def test_an_invoice_whose_bank_debit_failed_is_paid_with_a_new_session(
    user_client, api_client, invoice, fake_stripe
):
    """Paying again handed out the failed debit's session, complete at Stripe, where nothing
    can be paid (and once that session neared its end, paying was 409 for good)."""
    session = pay(user_client, invoice).json()["session_id"]
    stripe_says(api_client, fake_stripe, fake_stripe.complete_unpaid(session))

    outcome = stripe_says(api_client, fake_stripe, fake_stripe.debit_failed(session))
    again = pay(user_client, invoice)

    assert again.status_code == 200
    new = again.json()["session_id"]
    assert new != session
    assert fake_stripe.sessions[new]["status"] == "open"
    assert Invoice.objects.get(pk=invoice.pk).stripe_session_id == new
    assert outcome == "processed"


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


def test_a_session_expired_early_at_stripe_is_not_handed_out_again(
    user_client, api_client, invoice, fake_stripe
):
    """Expired before its time (in Stripe's dashboard, or by a mark-paid refused after it
    ended the session): paying handed out that expired session, where nothing can be paid,
    until ten minutes before the end it was made with, up to a day later."""
    session = pay(user_client, invoice).json()["session_id"]

    outcome = stripe_says(api_client, fake_stripe, fake_stripe.expire(session))
    again = pay(user_client, invoice)

    assert again.status_code == 200
    new = again.json()["session_id"]
    assert new != session
    assert fake_stripe.sessions[new]["status"] == "open"
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"
    assert outcome == "processed"


@pytest.fixture
def add_ons_of_an_ended_plan(user):
    """A checkout of add-ons bought alone, and the instant its plan ended (not swept yet)."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan, reference="plan")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    return add_ons, Subscription.objects.get(invoice=plan).expires_at


@pytest.mark.parametrize("provider", ["stripe", "test"])
def test_paying_add_ons_whose_plan_has_ended_is_409_and_asks_nothing_of_stripe(
    user_client, add_ons_of_an_ended_plan, fake_stripe, settings, provider
):
    """The capture of such a payment is refused (needs_review, refunded by hand): the
    customer is not sent to pay it."""
    settings.PAYMENTS_TEST_MODE = True
    invoice, ended = add_ons_of_an_ended_plan

    before = database_state()

    with time_machine.travel(ended, tick=False):
        response = pay(user_client, invoice, {"provider": provider})

    assert (response.status_code, response.json().get("code")) == (409, "invalid_state")
    assert database_state() == before
    assert fake_stripe.requests == []


def test_a_session_made_before_the_plan_ended_is_not_handed_out_after(
    user_client, add_ons_of_an_ended_plan, fake_stripe
):
    invoice, ended = add_ons_of_an_ended_plan
    assert pay(user_client, invoice).status_code == 200

    with time_machine.travel(ended, tick=False):
        response = pay(user_client, invoice)

    assert (response.status_code, response.json().get("code")) == (409, "invalid_state")
    assert len(fake_stripe.requests) == 1


def test_the_invoice_page_does_not_send_to_pay_add_ons_whose_plan_has_ended(
    client, user, add_ons_of_an_ended_plan, fake_stripe
):
    invoice, ended = add_ons_of_an_ended_plan

    with time_machine.travel(ended, tick=False):
        client.force_login(user)
        response = client.post(f"/invoices/{invoice.pk}/pay")

    assert response.status_code == 409
    assert "has ended" in response.content.decode()
    assert fake_stripe.requests == []
