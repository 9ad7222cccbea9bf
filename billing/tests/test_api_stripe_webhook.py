import itertools
import json
from decimal import Decimal
from io import StringIO

import pytest
import stripe
from django.core.management import call_command
from django.test import Client

from billing import signals
from billing.models import AddOnSubscription, Invoice, PaymentEvent, Subscription
from billing.tests.helpers import checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state
from tokens.models import TokenAccount

pytestmark = pytest.mark.django_db

STRIPE = "/api/v1/webhooks/stripe"


@pytest.fixture
def order(user):
    return checkout(
        user,
        plan=PlanFactory(price=Decimal("29.00")),
        bundles=[TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))],
        add_ons=[AddOnFactory(price=Decimal("9.00"))],
    )


@pytest.fixture
def session(user_client, order, fake_stripe):
    """The order's Checkout Session, as the pay endpoint created it."""
    paid = user_client.post(f"/api/v1/user/invoices/{order.invoice.pk}/pay", {"provider": "stripe"})
    return paid.json()["session_id"]


def send(client, fake_stripe, event, *, secret=None, header=None):
    body, signature = fake_stripe.signed(event, secret=secret)
    headers = {"HTTP_STRIPE_SIGNATURE": header if header is not None else signature}
    return client.post(STRIPE, data=body, content_type="application/json", **headers)


def balance(user) -> int:
    account = TokenAccount.objects.filter(user=user).first()
    return account.balance if account else 0


def without_events(state: dict) -> dict:
    return {model: rows for model, rows in state.items() if model != "billing.PaymentEvent"}


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
    "signing", ["wrong secret", "missing", "garbage", "stale"], ids=lambda value: value
)
def test_bad_signatures_are_400_recorded_and_change_nothing(
    api_client, order, session, fake_stripe, signing
):
    event = fake_stripe.complete(session)
    body, good = fake_stripe.signed(event)
    header = {
        "wrong secret": fake_stripe.signed(event, secret="whsec_forger")[1],
        "missing": "",
        "garbage": "t=1,v1=zzz",
        "stale": good.replace(good.split(",")[0], "t=1000000000"),
    }[signing]
    before = database_state()

    response = api_client.post(
        STRIPE, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert without_events(database_state()) == without_events(before)
    recorded = PaymentEvent.objects.get()
    assert (recorded.signature_valid, recorded.outcome, recorded.event_id) == (
        False,
        "rejected",
        "",
    )


def test_a_signed_body_nested_too_deeply_is_a_400_recorded_and_changes_nothing(
    order, session, fake_stripe
):
    """Only the signature is checked before the body is parsed, so anyone with a signed
    delivery (Stripe, or whoever holds the secret) reached json.loads with 100,000 levels of
    brackets: RecursionError, a 500 that recorded nothing, and Stripe retried it for days.
    The capture webhook answers such a body 400 `validation_error` (e580b42); so does this one."""
    deep = "[" * 100_000 + "]" * 100_000
    body = '{"id": "evt_deep", "type": "checkout.session.completed", "data": ' + deep + "}"
    header = stripe.WebhookSignature.generate_signature_header(body, fake_stripe.webhook_secret)
    before = database_state()

    response = Client(raise_request_exception=False).post(
        STRIPE, data=body.encode(), content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "The body is not valid JSON: values are nested too deeply.",
        "code": "validation_error",
        "fields": {
            "non_field_errors": ["The body is not valid JSON: values are nested too deeply."]
        },
    }
    assert without_events(database_state()) == without_events(before)
    recorded = PaymentEvent.objects.get()
    assert (recorded.signature_valid, recorded.outcome, recorded.event_id) == (
        True,
        "rejected",
        "",
    )
    assert Invoice.objects.get(pk=order.invoice.pk).status == "pending"


def test_no_configured_secret_refuses_everything(api_client, settings, session, fake_stripe):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = send(api_client, fake_stripe, fake_stripe.complete(session))

    assert response.status_code == 400


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


def test_a_refund_after_the_capture_refunds(api_client, user, order, session, fake_stripe):
    send(api_client, fake_stripe, fake_stripe.complete(session))

    response = send(api_client, fake_stripe, fake_stripe.refunded(session))

    assert response.json()["outcome"] == "processed"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "refunded"
    assert balance(user) == 0


def test_a_refund_before_its_capture_is_held_then_applied(
    api_client, user, order, session, fake_stripe
):
    refund = fake_stripe.refunded(session)
    completed = fake_stripe.complete(session)
    refund["data"]["object"]["payment_intent"] = completed["data"]["object"]["payment_intent"]

    held = send(api_client, fake_stripe, refund)
    captured = send(api_client, fake_stripe, completed)

    assert held.json()["outcome"] == "held"
    assert captured.json()["outcome"] == "processed"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "refunded"
    assert PaymentEvent.objects.get(event_id=refund["id"]).outcome == "processed"
    assert balance(user) == 0


def test_a_partial_refund_needs_review(api_client, user, order, session, fake_stripe):
    send(api_client, fake_stripe, fake_stripe.complete(session))

    response = send(api_client, fake_stripe, fake_stripe.refunded(session, amount=500))

    assert response.json()["outcome"] == "needs_review"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "paid"
    assert balance(user) == 1000


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


def final_state(order, user) -> tuple:
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    return (
        invoice.status,
        Subscription.objects.get(invoice=invoice).status,
        tuple(AddOnSubscription.objects.filter(invoice=invoice).values_list("status", flat=True)),
        tuple(invoice.token_purchases.values_list("status", "tokens_reversed")),
        balance(user),
    )


@pytest.mark.parametrize(
    "order_of_events",
    list(itertools.permutations(["completed", "expired", "refunded"])),
    ids="-".join,
)
def test_every_order_of_completed_expired_refunded_ends_in_the_same_state(
    api_client, user, order, session, fake_stripe, order_of_events
):
    completed = fake_stripe.complete(session)
    events = {
        "completed": completed,
        "expired": fake_stripe.expire(session),
        "refunded": fake_stripe.refunded(session),
    }

    answers = [send(api_client, fake_stripe, events[name]).status_code for name in order_of_events]

    assert answers == [200, 200, 200]
    assert final_state(order, user) == (
        "refunded",
        "cancelled",
        ("cancelled",),
        (("refunded", 1000),),
        0,
    )


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


def test_a_body_over_one_mebibyte_is_413(api_client, fake_stripe):
    event = fake_stripe.event("customer.created", {"padding": "x" * (1024 * 1024)})

    assert send(api_client, fake_stripe, event).status_code == 413


def test_the_stored_payload_is_the_raw_body(api_client, session, fake_stripe):
    event = fake_stripe.complete(session)

    send(api_client, fake_stripe, event)

    assert json.loads(PaymentEvent.objects.get().payload) == event


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


def test_a_senders_forgeries_beyond_its_limit_are_refused_and_not_recorded(
    api_client, order, session, fake_stripe, monkeypatch
):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "forged_webhook", "2/minute")
    event = fake_stripe.complete(session)

    forged = [send(api_client, fake_stripe, event, secret="whsec_forger") for _ in range(4)]
    recorded = PaymentEvent.objects.count()
    signed = send(api_client, fake_stripe, event)

    assert [response.status_code for response in forged] == [400] * 4
    assert recorded == 2
    assert (signed.status_code, signed.json()["outcome"]) == (200, "processed")
    assert Invoice.objects.get(pk=order.invoice.pk).status == "paid"


def test_a_dispute_of_a_paid_invoice_needs_review_and_reconciliation_lists_it(
    api_client, user, order, session, fake_stripe
):
    """A chargeback takes the whole payment back at Stripe. The webhook recorded it `ignored`
    (a type not acted on), the invoice stayed paid with its tokens spendable, and
    reconciliation listed nothing: nobody here heard that the money had gone."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    event = fake_stripe.disputed(session)
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    assert (response.status_code, response.json()) == (
        200,
        {"received": True, "outcome": "needs_review"},
    )
    recorded = PaymentEvent.objects.get(event_id=event["id"])
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (recorded.outcome, recorded.invoice_id, recorded.payment_reference) == (
        "needs_review",
        invoice.pk,
        reference,
    )
    assert recorded.error == (
        f"The customer disputed 4300 USD of {reference} (fraudulent), which paid invoice "
        f"{invoice.number}: Stripe has taken the money back until the dispute is decided. "
        "The invoice and its tokens are as they were; answer the dispute at Stripe and "
        "decide about the tokens."
    )
    assert without_events(database_state()) == before
    out = StringIO()
    call_command("reconcile_purchases", "--json", stdout=out)
    assert json.loads(out.getvalue())["needs_review"] == [
        f"stripe event {event['id']} (charge.dispute.created) for {invoice.number}: "
        f"{recorded.error}"
    ]


def test_a_lost_dispute_needs_review_naming_the_invoice(
    api_client, user, order, session, fake_stripe
):
    """The bank decided for the customer: the money is gone for good, while the invoice here
    stays paid and its tokens spendable. `charge.dispute.closed` was recorded `ignored` (a
    type not acted on), so a person who had settled the dispute's first event (answered it
    at Stripe, waiting for the bank) never heard how it ended."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    event = fake_stripe.dispute_closed(session, status="lost")
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    recorded = PaymentEvent.objects.get(event_id=event["id"])
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (response.json()["outcome"], recorded.outcome, recorded.invoice_id) == (
        "needs_review",
        "needs_review",
        invoice.pk,
    )
    assert recorded.error == (
        f"The customer's dispute of 4300 USD of {reference} (fraudulent) is lost, and it paid "
        f"invoice {invoice.number}: the money stays with the customer. The invoice and its "
        "tokens are as they were; decide about the tokens."
    )
    assert without_events(database_state()) == before
    out = StringIO()
    call_command("reconcile_purchases", "--json", stdout=out)
    assert (
        f"stripe event {event['id']} (charge.dispute.closed) for {invoice.number}: {recorded.error}"
    ) in json.loads(out.getvalue())["needs_review"]


def test_a_won_dispute_is_recorded_for_whoever_looks_and_changes_nothing(
    api_client, user, order, session, fake_stripe
):
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    event = fake_stripe.dispute_closed(session, status="won")
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    recorded = PaymentEvent.objects.get(event_id=event["id"])
    assert (response.json()["outcome"], recorded.invoice_id) == ("processed", order.invoice.pk)
    assert recorded.error == (
        f"The customer's dispute of 4300 USD of {reference} (fraudulent) is won: Stripe gives "
        "the money back. Nothing was changed."
    )
    assert without_events(database_state()) == before


@pytest.mark.parametrize("closed", [None, "lost"])
def test_staff_refund_of_a_disputed_payment_takes_the_tokens_back_here(
    api_client, staff_client, user, order, session, fake_stripe, closed
):
    """Stripe refuses to refund a disputed charge (400 `charge_disputed`), open or lost: the
    bank has the money. The staff refund was a 502 "nothing changed" on every try, so staff
    told by the dispute's needs_review to "decide about the tokens" could not take them back.
    The money is with the customer's bank, so the refund here goes ahead without Stripe."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    if closed:
        send(api_client, fake_stripe, fake_stripe.dispute_closed(session, status=closed))
    refunds_before = len(fake_stripe.refunds)

    response = staff_client.post(f"/api/v1/admin/invoices/{order.invoice.pk}/refund")

    assert (response.status_code, response.json().get("status")) == (200, "refunded")
    assert response.json()["token_purchases"][0]["tokens_reversed"] == 1000
    assert balance(user) == 0
    assert Subscription.objects.get(invoice=order.invoice).status == "cancelled"
    assert [request.path for request in fake_stripe.requests[-1:]] == ["/v1/refunds"]
    assert len(fake_stripe.refunds) == refunds_before


def test_a_dispute_won_after_the_refund_here_needs_review(
    api_client, staff_client, user, order, session, fake_stripe
):
    """Refunded here while disputed (Stripe refunded nothing), then the bank decides for us:
    the money comes back to us for an invoice refunded here, so a person must return it."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    send(api_client, fake_stripe, fake_stripe.disputed(session))
    staff_client.post(f"/api/v1/admin/invoices/{order.invoice.pk}/refund")
    event = fake_stripe.dispute_closed(session, status="won")

    response = send(api_client, fake_stripe, event)

    recorded = PaymentEvent.objects.get(event_id=event["id"])
    assert (response.json()["outcome"], recorded.invoice_id) == ("needs_review", order.invoice.pk)
    assert "Refund the payment at Stripe now" in recorded.error


def test_a_refund_stripe_could_not_make_needs_review(
    api_client, staff_client, user, order, session, fake_stripe
):
    """The bank refused the refund (a closed card): the money came back to us, while the
    invoice here was refunded and its tokens taken back, so the customer has neither. The
    event was recorded ignored and reconciliation looks at paid invoices only: nobody was
    told."""
    send(api_client, fake_stripe, fake_stripe.complete(session))
    assert staff_client.post(f"/api/v1/admin/invoices/{order.invoice.pk}/refund").status_code == 200
    event = fake_stripe.refund_failed(session)
    reference = fake_stripe.sessions[session]["payment_intent"]
    before = without_events(database_state())

    response = send(api_client, fake_stripe, event)

    assert response.json() == {"received": True, "outcome": "needs_review"}
    recorded = PaymentEvent.objects.get(event_id=event["id"])
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (recorded.outcome, recorded.invoice_id, recorded.payment_reference) == (
        "needs_review",
        invoice.pk,
        reference,
    )
    assert recorded.error == (
        f"Stripe could not refund 4300 USD of {reference} (expired_or_canceled_card): the "
        f"money is back with us, and invoice {invoice.number}, which it paid, is refunded. "
        "Return the money another way, or settle the invoice by hand."
    )
    assert without_events(database_state()) == before
    out = StringIO()
    call_command("reconcile_purchases", "--json", stdout=out)
    assert json.loads(out.getvalue())["needs_review"] == [
        f"stripe event {event['id']} (charge.refund.updated) for {invoice.number}: {recorded.error}"
    ]


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
