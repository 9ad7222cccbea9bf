"""The `test` payment provider: the pay API, its checkout page, Pay and Decline, refusals."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from billing.models import Invoice, PaymentEvent
from billing.services.reprocess import payment_event_reprocess
from billing.tests.payments_test_mode.helpers import decide, open_form
from common.tests.concurrency import run_together
from tokens.selectors import token_balance

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_the_same_pay_posted_8_times_at_once_captures_once(payments_on, user, invoice):
    clients = [Client() for _ in range(8)]
    for client in clients:
        client.force_login(user)
    token = open_form(clients[0], invoice)

    responses = run_together([lambda c=c: decide(c, invoice, token) for c in clients], workers=8)

    assert sorted(response.status_code for response in responses) == [302] + [409] * 7
    assert PaymentEvent.objects.filter(provider="test").count() == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert token_balance(user_id=user.pk).balance == 50


@pytest.mark.django_db(transaction=True)
def test_two_pages_paid_at_once_capture_once(payments_on, user, invoice):
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(user)
    tokens = [open_form(client, invoice) for client in clients]

    responses = run_together(
        [
            lambda: decide(clients[0], invoice, tokens[0]),
            lambda: decide(clients[1], invoice, tokens[1]),
        ],
        workers=2,
    )

    assert sorted(response.status_code for response in responses) == [302, 409]
    assert PaymentEvent.objects.filter(provider="test").count() == 1
    assert token_balance(user_id=user.pk).balance == 50


def test_staff_re_processing_a_failed_test_payment_captures_it_as_a_test_payment(user, invoice):
    event = PaymentEvent.objects.create(
        provider="test",
        event_id="test_" + "b" * 32,
        event_type="payment.captured",
        signature_valid=True,
        outcome="failed",
        payload=json.dumps(
            {
                "event_id": "test_" + "b" * 32,
                "invoice_id": str(invoice.pk),
                "payment_reference": "test_" + "b" * 32,
                "amount": "45.99",
                "currency": "USD",
            }
        ),
    )

    outcome = payment_event_reprocess(event_id=event.pk)

    invoice.refresh_from_db()
    assert outcome == "processed"
    assert (invoice.status, invoice.provider) == ("paid", "test")
    assert token_balance(user_id=user.pk).balance == 50
