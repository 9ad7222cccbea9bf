"""Checkout and capture under real concurrency on PostgreSQL."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import Invoice
from billing.tests.helpers import checkout, deliver, payment_body
from catalog.tests.factories import TokenBundleFactory
from common.errors import InvalidState
from common.models import IdempotencyRecord
from common.tests.concurrency import run_together
from conftest import client_for
from tokens.models import TokenAccount, TokenTransaction

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.through_pgbouncer,
    pytest.mark.sqlite,
]


@pytest.fixture
def bundle():
    return TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))


def test_the_same_capture_delivered_10_times_at_once_credits_once(bundle):
    user = UserFactory()
    invoice = checkout(user, bundles=[bundle]).invoice
    body = payment_body(invoice)
    clients = [APIClient() for _ in range(10)]

    responses = run_together([lambda c=c: deliver(c, body) for c in clients], workers=10)

    assert [response.status_code for response in responses] == [200] * 10
    statuses = sorted(response.json()["status"] for response in responses)
    assert statuses == ["already_processed"] * 9 + ["success"]
    assert TokenAccount.objects.get(user=user).balance == 1000
    assert TokenTransaction.objects.filter(transaction_type="purchase").count() == 1


def test_the_same_payment_without_event_ids_10_times_at_once_credits_once(bundle):
    user = UserFactory()
    invoice = checkout(user, bundles=[bundle]).invoice
    body = payment_body(invoice, event_id=None)

    responses = run_together([lambda: deliver(APIClient(), body)] * 10, workers=10)

    assert [response.status_code for response in responses] == [200] * 10
    assert TokenAccount.objects.get(user=user).balance == 1000


def test_20_concurrent_checkouts_get_20_distinct_increasing_numbers(bundle):
    users = UserFactory.create_batch(4)
    clients = [client_for(user) for user in users]

    def order(index):
        return lambda: clients[index % 4].post(
            "/api/v1/user/checkout", {"token_bundle_ids": [str(bundle.pk)]}, format="json"
        )

    responses = run_together([order(index) for index in range(20)], workers=10)

    assert [response.status_code for response in responses] == [201] * 20
    by_creation = list(Invoice.objects.order_by("created_at").values_list("number", flat=True))
    assert len(set(by_creation)) == 20
    assert by_creation == sorted(by_creation)
    suffixes = sorted(int(number.rsplit("-", 1)[1]) for number in by_creation)
    assert suffixes == list(range(suffixes[0], suffixes[0] + 20))


def test_capture_and_cancel_racing_end_in_exactly_one_of_the_two(bundle):
    user = UserFactory()
    for round_number in range(5):
        invoice = checkout(user, bundles=[bundle]).invoice

        outcomes = run_together(
            [
                lambda invoice=invoice, n=round_number: services.invoice_capture(
                    invoice_id=invoice.pk, payment_reference=f"race-{n}", provider="payment"
                ),
                lambda invoice=invoice: services.invoice_cancel(invoice_id=invoice.pk),
            ],
            workers=2,
        )

        failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert len(failures) == 1
        assert isinstance(failures[0], InvalidState)
        final = Invoice.objects.get(pk=invoice.pk).status
        credited = TokenTransaction.objects.filter(
            reference_id__in=[
                str(pk) for pk in invoice.token_purchases.values_list("pk", flat=True)
            ]
        ).count()
        assert (final, credited) in {("paid", 1), ("cancelled", 0)}


def test_the_same_checkout_key_from_10_workers_makes_one_invoice(bundle):
    user = UserFactory()

    def order():
        return checkout(user, bundles=[bundle], key="double-click")

    results = run_together([order] * 10, workers=10)

    assert {result.invoice.pk for result in results} == {results[0].invoice.pk}
    assert Invoice.objects.filter(user=user).count() == 1


def test_the_same_checkout_request_from_10_workers_answers_one_invoice(bundle):
    user = UserFactory()
    clients = [client_for(user) for _ in range(10)]
    body = {"token_bundle_ids": [str(bundle.pk)]}

    def order(client):
        return lambda: client.post(
            "/api/v1/user/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="double-click"
        )

    responses = run_together([order(client) for client in clients], workers=10)

    assert [response.status_code for response in responses] == [201] * 10
    replayed = [response.get("Idempotent-Replayed") == "true" for response in responses]
    assert sorted(replayed) == [False] + [True] * 9
    assert all(response.json() == responses[0].json() for response in responses)
    assert Invoice.objects.filter(user=user).count() == 1
    assert IdempotencyRecord.objects.filter(user=user).count() == 1


def test_concurrent_refunds_refund_at_most_once(bundle):
    user = UserFactory()
    invoice = checkout(user, bundles=[bundle]).invoice
    services.invoice_capture(invoice_id=invoice.pk, payment_reference="pay-r", provider="payment")

    outcomes = run_together([lambda: services.invoice_refund(invoice_id=invoice.pk)] * 8, workers=8)

    assert sum(isinstance(outcome, services.RefundResult) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, services.InvoiceAlreadyRefunded) for outcome in outcomes) == 7
    assert TokenTransaction.objects.filter(transaction_type="reversal").count() == 1
    assert TokenAccount.objects.get(user=user).balance == 0


def test_concurrent_pays_make_one_stripe_session(bundle, fake_stripe):
    user = UserFactory()
    invoice = checkout(user, bundles=[bundle]).invoice
    clients = [client_for(user) for _ in range(6)]

    responses = run_together(
        [
            lambda c=c: c.post(
                f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"}, format="json"
            )
            for c in clients
        ],
        workers=6,
    )

    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["session_id"] for response in responses}) == 1
    assert len(fake_stripe.sessions) == 1
    assert Invoice.objects.get(pk=invoice.pk).stripe_session_id in fake_stripe.sessions


@pytest.mark.parametrize("references", [("bank-7", "bank-7"), ("bank-7", "bank-8")])
def test_staff_marking_one_invoice_paid_from_two_tabs_at_once_credit_it_once(bundle, references):
    """The second waits for the first's row lock: the same reference is `already_processed`
    (the admin then says it was paid already), another is refused; nothing credits twice."""
    invoice = checkout(UserFactory(), bundles=[bundle]).invoice

    outcomes = run_together(
        [
            lambda reference=reference: services.invoice_mark_paid(
                invoice_id=invoice.pk, payment_reference=reference
            )
            for reference in references
        ],
        workers=2,
    )

    statuses = sorted(
        type(outcome).__name__ if isinstance(outcome, Exception) else outcome.status
        for outcome in outcomes
    )
    expected = "already_processed" if len(set(references)) == 1 else "InvalidState"
    assert statuses == sorted(["success", expected])
    assert TokenAccount.objects.get(user_id=invoice.user_id).balance == 1000
