from decimal import Decimal

import pytest

from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import deliver, payment_body
from billing.tests.pay.helpers import pay, stripe_says

pytestmark = pytest.mark.django_db


def test_a_capture_by_the_payment_webhook_ends_the_open_stripe_session(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    """The customer opened Stripe's page, then paid through the other provider. Before, the
    Stripe tab still took a second payment for the paid invoice, which a person then had to
    refund."""
    session = pay(user_client, invoice).json()["session_id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api_client, payment_body(invoice))

    assert response.json()["status"] == "success"
    assert fake_stripe.sessions[session]["status"] == "expired"


def test_a_stripe_payment_taken_before_the_session_ended_is_still_told_to_a_person(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)  # paid at Stripe; its webhook not yet here

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api_client, payment_body(invoice))

    assert response.json()["status"] == "success"
    assert stripe_says(api_client, fake_stripe, completed) == "needs_review"
    assert Invoice.objects.get(pk=invoice.pk).provider == "payment"
    assert PaymentEvent.objects.filter(provider="stripe", outcome="needs_review").count() == 1


def test_stripe_unreachable_after_the_capture_keeps_the_capture(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    pay(user_client, invoice)
    fake_stripe.fail_next(10)

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api_client, payment_body(invoice))

    assert response.json()["status"] == "success"
    paid = Invoice.objects.get(pk=invoice.pk)
    assert (paid.status, paid.total) == ("paid", Decimal("120.98"))
