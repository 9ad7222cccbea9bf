"""Refunds racing spending and each other, with real threads on PostgreSQL (each with its own
connection), directly and through PgBouncer in transaction pooling."""

import threading

import pytest
from django.db import connections
from django.test import Client

from accounts.tests.factories import UserFactory
from billing.models import Invoice, PaymentEvent
from billing.services.stripe_webhook import delivery as webhook_delivery
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.concurrency import run_together
from common.tests.waits import sessions_waiting_on_a_lock, wait_until
from conftest import client_for
from tokens.models import TokenAccount, TokenTransaction
from tokens.selectors import ledger_check

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


STRIPE = "/api/v1/webhooks/stripe"


@pytest.fixture
def stripe_invoice(fake_stripe) -> tuple[Invoice, str]:
    """An invoice paid through Stripe Checkout (captured by its webhook), and its session."""
    user = UserFactory()
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=100)]).invoice
    paid = client_for(user).post(
        f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"}, format="json"
    )
    session = paid.json()["session_id"]
    assert delivered(fake_stripe, fake_stripe.complete(session)) == "processed"
    return Invoice.objects.get(pk=invoice.pk), session


def delivered(fake_stripe, event: dict) -> str:
    body, header = fake_stripe.signed(event)
    response = Client().post(
        STRIPE, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 200, response.content
    return response.json()["outcome"]


def reversed_once(invoice: Invoice) -> None:
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    reversals = TokenTransaction.objects.filter(
        account__user_id=invoice.user_id, transaction_type="reversal"
    )
    assert list(reversals.values_list("amount", flat=True)) == [-100]
    assert TokenAccount.objects.get(user_id=invoice.user_id).balance == 0
    assert list(ledger_check()) == []


def test_a_staff_refund_then_stripes_charge_refunded_reverses_once(stripe_invoice, fake_stripe):
    invoice, session = stripe_invoice
    staff = client_for(UserFactory(is_staff=True))

    refunded = staff.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")
    outcome = delivered(fake_stripe, fake_stripe.refunded(session))

    assert refunded.status_code == 200
    assert outcome == "already_processed"
    reversed_once(invoice)


def test_a_staff_refund_and_stripes_charge_refunded_at_once_reverse_once(
    stripe_invoice, fake_stripe
):
    invoice, session = stripe_invoice
    staff = client_for(UserFactory(is_staff=True))
    event = fake_stripe.refunded(session)

    outcomes = run_together(
        [
            lambda: staff.post(f"/api/v1/admin/invoices/{invoice.pk}/refund").status_code,
            lambda: delivered(fake_stripe, event),
        ],
        workers=2,
    )

    assert sorted(map(str, outcomes)) in (
        ["200", "already_processed"],
        ["409", "processed"],
    )
    reversed_once(invoice)


def test_charge_refunded_under_two_event_ids_at_once_reverses_once(stripe_invoice, fake_stripe):
    invoice, session = stripe_invoice
    first, second = fake_stripe.refunded(session), fake_stripe.refunded(session)
    assert first["id"] != second["id"]

    outcomes = run_together(
        [lambda: delivered(fake_stripe, first), lambda: delivered(fake_stripe, second)],
        workers=2,
    )

    assert sorted(outcomes) == ["already_processed", "processed"]
    events = PaymentEvent.objects.filter(event_type="charge.refunded")
    assert sorted(events.values_list("outcome", flat=True)) == sorted(outcomes)
    reversed_once(invoice)


def test_a_stripe_refund_and_its_capture_arriving_together_end_refunded(fake_stripe, monkeypatch):
    """Stripe promises no order. The refund looked the invoice up while the capture had not
    committed, so it was held; the capture looked for held refunds while the refund had not
    committed, so it found none. Both committed: the invoice stayed paid, its tokens
    spendable, though Stripe had returned the money. The refund's transaction is paused
    after its read (until the capture is done or waits for it); the database is real."""
    user = UserFactory()
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=1000)]).invoice
    paid = client_for(user).post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"})
    session = paid.json()["session_id"]
    completed, refunded = fake_stripe.complete(session), fake_stripe.refunded(session)
    refund_read, capture_done = threading.Event(), threading.Event()
    record = webhook_delivery.event_outcome_record

    def record_after_the_capture(event, handled):
        if handled.outcome == PaymentEvent.Outcome.HELD:
            refund_read.set()
            wait_until(lambda: capture_done.is_set() or sessions_waiting_on_a_lock() > 0)
        return record(event, handled)

    monkeypatch.setattr(webhook_delivery, "event_outcome_record", record_after_the_capture)
    answers = {}

    def deliver(name: str, event: dict) -> None:
        body, signature = fake_stripe.signed(event)
        try:
            answers[name] = (
                Client()
                .post(
                    STRIPE, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
                )
                .status_code
            )
        finally:
            connections.close_all()

    refund = threading.Thread(target=deliver, args=("refund", refunded))
    refund.start()
    refund_read.wait(10)
    deliver("capture", completed)
    capture_done.set()
    refund.join()

    invoice.refresh_from_db()
    assert answers == {"refund": 200, "capture": 200}
    assert invoice.status == "refunded"
    assert TokenAccount.objects.get(user=user).balance == 0
    assert not PaymentEvent.objects.filter(outcome="held").exists()
