from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import Invoice, minor_units
from billing.tests.helpers import capture, checkout
from billing.tests.pay.helpers import pay, stripe_says
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = pytest.mark.django_db


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
