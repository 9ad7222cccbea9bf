from decimal import Decimal

import pytest
from django.test import Client

from billing import signals
from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import checkout
from billing.tests.stripe_webhook_helpers import balance, send, without_events
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_a_completed_paid_session_captures(api_client, user, order, session, fake_stripe):
    event = fake_stripe.complete(session)

    response = send(api_client, fake_stripe, event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "processed"}
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (invoice.status, invoice.provider) == ("paid", "stripe")
    assert invoice.payment_reference == fake_stripe.sessions[session]["payment_intent"]
    assert balance(user) == 1000
    recorded = PaymentEvent.objects.get()
    assert (recorded.event_id, recorded.event_type, recorded.outcome, recorded.invoice_id) == (
        event["id"],
        "checkout.session.completed",
        "processed",
        invoice.pk,
    )


def test_the_same_event_twice_is_processed_once(api_client, user, order, session, fake_stripe):
    event = fake_stripe.complete(session)
    send(api_client, fake_stripe, event)
    before = database_state()

    again = send(api_client, fake_stripe, event)

    assert again.json()["outcome"] == "already_processed"
    assert without_events(database_state()) == without_events(before)
    assert PaymentEvent.objects.get().deliveries == 2
    assert balance(user) == 1000


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"amount_total": 4299}, "Nothing was credited"),
        ({"amount_total": 4301}, "Nothing was credited"),
        ({"currency": "eur"}, "Nothing was credited"),
        (
            {"client_reference_id": "00000000-0000-0000-0000-000000000000", "metadata": {}},
            "No invoice",
        ),
        ({"client_reference_id": None, "metadata": {}}, "No invoice"),
    ],
)
def test_a_session_that_does_not_match_its_invoice_needs_review(
    api_client, user, order, session, fake_stripe, change, why
):
    event = fake_stripe.complete(session)
    event["data"]["object"].update(change)
    before = database_state()

    response = send(api_client, fake_stripe, event)

    assert response.status_code == 200
    assert response.json()["outcome"] == "needs_review"
    assert without_events(database_state()) == without_events(before)
    assert why in PaymentEvent.objects.get().error
    assert balance(user) == 0


@pytest.mark.parametrize("field", ["payment_intent", "id"])
def test_a_paid_session_whose_payment_reference_is_too_long_to_record_needs_review(
    user, order, session, fake_stripe, field
):
    """The capture records the payment intent (or the session, without one) as the invoice's
    payment reference, 255 characters at most: a longer one failed the capture (500,
    `failed`, and Stripe retried it for days). Paid at Stripe but not recordable, it is a
    person's to settle, as any paid session that cannot be captured."""
    event = fake_stripe.complete(session)
    event["data"]["object"].update({"payment_intent": None, field: "pi_" + "x" * 300})
    body, header = fake_stripe.signed(event)
    before = database_state()

    response = Client(raise_request_exception=False).post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )

    assert (response.status_code, response.json().get("outcome")) == (200, "needs_review")
    assert without_events(database_state()) == without_events(before)
    assert "too long" in PaymentEvent.objects.get().error
    assert balance(user) == 0


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_x", "type": "checkout.session.completed"},
        {"id": "evt_x", "type": "checkout.session.completed", "data": {}},
        {"id": "evt_x", "type": "checkout.session.completed", "data": {"object": "text"}},
        [1, 2, 3],
    ],
    ids=["no data", "no object", "object not an object", "not an object"],
)
def test_events_with_missing_objects_need_review_and_never_500(api_client, fake_stripe, event):
    before = database_state()

    response = send(api_client, fake_stripe, event)

    assert response.status_code == 200
    assert response.json()["outcome"] == "needs_review"
    assert without_events(database_state()) == without_events(before)


def test_unhandled_types_are_recorded_and_ignored(api_client, fake_stripe):
    response = send(api_client, fake_stripe, fake_stripe.event("customer.created", {"id": "cus_1"}))

    assert response.json()["outcome"] == "ignored"
    assert PaymentEvent.objects.get().event_type == "customer.created"


def test_an_unpaid_completed_session_captures_nothing(api_client, order, session, fake_stripe):
    event = fake_stripe.complete(session)
    event["data"]["object"]["payment_status"] = "unpaid"

    response = send(api_client, fake_stripe, event)

    assert response.json()["outcome"] == "ignored"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "pending"


def test_an_expired_session_leaves_the_invoice_pending(api_client, order, session, fake_stripe):
    response = send(api_client, fake_stripe, fake_stripe.expire(session))

    assert response.json()["outcome"] == "processed"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "pending"


def test_a_payment_for_a_cancelled_invoice_needs_review(
    api_client, user_client, user, order, session, fake_stripe
):
    paid = fake_stripe.complete(session)
    # Cancelling expires the session at Stripe first, so this is a cancel Stripe did not hear
    # of (the invoice's session not known here): the payment is still never credited.
    Invoice.objects.filter(pk=order.invoice.pk).update(status="cancelled")

    response = send(api_client, fake_stripe, paid)

    assert response.json()["outcome"] == "needs_review"
    assert "Refund it" in PaymentEvent.objects.get().error
    assert balance(user) == 0


def test_a_failing_receiver_is_500_recorded_and_stripes_retry_captures(
    user, order, session, fake_stripe
):
    client = Client(raise_request_exception=False)
    event = fake_stripe.complete(session)

    def broken(sender, **kwargs):
        raise RuntimeError("a receiver is down")

    signals.invoice_paid.connect(broken, dispatch_uid="test.broken")
    try:
        failed = send(client, fake_stripe, event)
    finally:
        signals.invoice_paid.disconnect(dispatch_uid="test.broken")
    recorded = PaymentEvent.objects.get()

    assert failed.status_code == 500
    assert (recorded.outcome, recorded.event_id) == ("failed", event["id"])
    assert "a receiver is down" in recorded.error
    assert Invoice.objects.get(pk=order.invoice.pk).status == "pending"

    retried = send(client, fake_stripe, event)

    assert retried.json()["outcome"] == "processed"
    assert balance(user) == 1000


def test_a_payment_intent_that_paid_another_invoice_needs_review_and_is_not_retried(
    api_client, user_client, user, order, session, fake_stripe
):
    send(api_client, fake_stripe, fake_stripe.complete(session))
    other = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    paid = user_client.post(f"/api/v1/user/invoices/{other.pk}/pay", {"provider": "stripe"})
    event = fake_stripe.complete(paid.json()["session_id"])
    event["data"]["object"]["payment_intent"] = fake_stripe.sessions[session]["payment_intent"]
    before = database_state()

    first = send(api_client, fake_stripe, event)
    again = send(api_client, fake_stripe, event)

    assert [first.status_code, again.status_code] == [200, 200]
    assert [first.json()["outcome"], again.json()["outcome"]] == ["needs_review", "needs_review"]
    assert without_events(database_state()) == without_events(before)
    recorded = PaymentEvent.objects.get(event_id=event["id"])
    assert (recorded.outcome, recorded.deliveries, recorded.invoice_id) == (
        "needs_review",
        2,
        other.pk,
    )
    assert "already paid another invoice" in recorded.error


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_that_waits_too_long_keeps_the_events_processed_record(
    api_client, user, order, session, fake_stripe
):
    """A redelivery of a processed event gave up on a lock (503 busy) and recorded its event
    `failed` over `processed`: the record said the payment had not been handled."""
    from common.tests.waits import row_locked, timeouts

    event = fake_stripe.complete(session)
    send(api_client, fake_stripe, event)
    # Another event of the same payment being handled: its lock (stripe_payment_lock).
    sql = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
    payment = f"stripe-payment:{fake_stripe.sessions[session]['payment_intent']}"

    with timeouts(lock_ms=200, statement_ms=5000), row_locked(sql, [payment]):
        again = send(api_client, fake_stripe, event)

    assert again.status_code == 503
    recorded = PaymentEvent.objects.get()
    assert (recorded.outcome, recorded.error) == ("processed", "")
    assert balance(user) == 1000


@pytest.mark.parametrize("key", ["sk_live_switched", "rk_live_restricted"])
def test_a_test_mode_event_while_taking_live_payments_needs_review_and_credits_nothing(
    api_client, user, order, session, fake_stripe, settings, key
):
    """The keys were switched to live ones with STRIPE_WEBHOOK_SECRET still the test-mode
    endpoint's: a test card paid the invoice's test-mode session, still open, and the
    event captured it, crediting tokens for money that does not exist (reconciliation
    listed it only afterwards, with the tokens spendable meanwhile)."""
    event = fake_stripe.complete(session)
    assert event["livemode"] is False
    settings.STRIPE_SECRET_KEY = key
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    assert response.json() == {"received": True, "outcome": "needs_review"}
    assert without_events(database_state()) == before
    assert balance(user) == 0
    recorded = PaymentEvent.objects.get(event_id=event["id"])
    assert (recorded.invoice_id, recorded.error) == (
        order.invoice.pk,
        "A test-mode event, while STRIPE_SECRET_KEY is a live-mode key: nothing was done. "
        "STRIPE_WEBHOOK_SECRET must be the signing secret of the live-mode endpoint.",
    )
