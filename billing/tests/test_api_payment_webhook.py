import json
import time
from decimal import Decimal
from uuid import uuid4

import pytest

from billing import services, signals
from billing.models import Invoice, PaymentEvent
from billing.services.reprocess import payment_event_mark_handled, payment_event_reprocess
from billing.tests.helpers import WEBHOOK, checkout, deliver, payment_body, signature
from billing.tests.test_reconcile import reconcile
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state
from tokens.models import TokenAccount

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def invoice(user):
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    return checkout(user, plan=PlanFactory(price=Decimal("29.00")), bundles=[bundle]).invoice


def balance(user) -> int:
    account = TokenAccount.objects.filter(user=user).first()
    return account.balance if account else 0


def without_events(state: dict) -> dict:
    return {model: rows for model, rows in state.items() if model != "billing.PaymentEvent"}


def test_a_signed_delivery_captures(api_client, user, invoice):
    response = deliver(api_client, payment_body(invoice))

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "invoice_id": str(invoice.pk),
        "subscription_activated": True,
        "tokens_credited": 1000,
        "addons_activated": 0,
    }
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert balance(user) == 1000
    event = PaymentEvent.objects.get()
    assert (event.event_id, event.outcome, event.signature_valid, event.invoice_id) == (
        "evt-1",
        "processed",
        True,
        invoice.pk,
    )


def test_tokens_credited_counts_the_plans_included_tokens(api_client, user):
    """The plan's included lot is credited by the same capture, and the receipt page counts
    it; the answer counted bundles only, so an integrator was told 0 tokens for a plan that
    granted 500."""
    plan_only = checkout(user, plan=PlanFactory(included_tokens=500)).invoice
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    both = checkout(user, plan=PlanFactory(included_tokens=200), bundles=[bundle]).invoice

    answers = [
        deliver(api_client, payment_body(plan_only, event_id="e1", payment_reference="p1")).json(),
        deliver(api_client, payment_body(both, event_id="e2", payment_reference="p2")).json(),
    ]

    assert [answer["tokens_credited"] for answer in answers] == [500, 1200]
    assert balance(user) == 1700


def test_a_replayed_event_is_already_processed_and_changes_nothing(api_client, user, invoice):
    body = payment_body(invoice)
    deliver(api_client, body)
    before = database_state()

    response = deliver(api_client, body)

    assert response.status_code == 200
    assert response.json()["status"] == "already_processed"
    assert without_events(database_state()) == without_events(before)
    assert PaymentEvent.objects.get().deliveries == 2
    assert balance(user) == 1000


def test_the_same_payment_under_another_event_id_is_already_processed(api_client, user, invoice):
    deliver(api_client, payment_body(invoice, event_id="evt-1"))

    response = deliver(api_client, payment_body(invoice, event_id="evt-2"))

    assert response.json()["status"] == "already_processed"
    assert balance(user) == 1000
    assert PaymentEvent.objects.get(event_id="evt-2").outcome == "already_processed"


def test_an_event_id_reused_for_another_payment_is_422_recorded_for_review_and_pays_nothing(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    body = payment_body(other, event_id="evt-1", payment_reference="pay-2")
    first = PaymentEvent.objects.values().get(event_id="evt-1")
    before = database_state()

    response = deliver(api_client, body)

    assert response.status_code == 422
    assert response.json() == {
        "error": (
            "This event_id was already used for another payment; this delivery was recorded "
            "for a person to review and nothing was captured."
        ),
        "code": "event_id_reused",
    }
    assert without_events(database_state()) == without_events(before)
    assert Invoice.objects.get(pk=other.pk).status == "pending"
    assert balance(user) == 1000
    assert PaymentEvent.objects.values().get(event_id="evt-1") == first
    review = PaymentEvent.objects.get(outcome="needs_review")
    assert (review.event_id, review.payload, review.invoice_id, review.payment_reference) == (
        "",
        body.decode(),
        other.pk,
        "pay-2",
    )
    assert "evt-1" in review.error


def test_retries_of_a_reused_event_id_s_delivery_count_in_its_one_review_row(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    body = payment_body(other, event_id="evt-1", payment_reference="pay-2")

    statuses = [deliver(api_client, body).status_code for _ in range(3)]

    assert statuses == [422, 422, 422]
    review = PaymentEvent.objects.get(outcome="needs_review")
    assert review.deliveries == 3
    assert PaymentEvent.objects.get(event_id="evt-1").deliveries == 1
    assert Invoice.objects.get(pk=other.pk).status == "pending"


def test_staff_re_processing_a_reused_event_id_s_delivery_captures_its_invoice(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(token_amount=10)]).invoice
    deliver(api_client, payment_body(other, event_id="evt-1", payment_reference="pay-2"))
    review = PaymentEvent.objects.get(outcome="needs_review")

    outcome = payment_event_reprocess(event_id=review.pk)

    assert outcome == "processed"
    assert Invoice.objects.get(pk=other.pk).status == "paid"
    assert balance(user) == 1010


def test_a_retry_of_a_reused_event_id_s_delivery_after_staff_captured_it_is_no_new_review(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-1", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(token_amount=10)]).invoice
    body = payment_body(other, event_id="evt-1", payment_reference="pay-2")
    deliver(api_client, body)
    review = PaymentEvent.objects.get(outcome="needs_review")
    payment_event_reprocess(event_id=review.pk)

    response = deliver(api_client, body)

    assert response.status_code == 422
    assert PaymentEvent.objects.filter(outcome="needs_review").count() == 0
    assert PaymentEvent.objects.get(pk=review.pk).deliveries == 2
    assert balance(user) == 1010


def test_an_event_delivered_again_in_another_json_layout_is_already_processed(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice))
    relaid = json.dumps(
        {**json.loads(payment_body(invoice)), "amount": 34, "currency": "usd"}, indent=2
    ).encode()

    response = deliver(api_client, relaid)

    assert response.json()["status"] == "already_processed"
    assert PaymentEvent.objects.get().deliveries == 2


@pytest.mark.parametrize("event_id", [None, ""])
def test_deliveries_without_event_id_are_each_recorded_and_captured_once(
    api_client, user, invoice, event_id
):
    body = payment_body(invoice, event_id=event_id)

    first = deliver(api_client, body)
    second = deliver(api_client, body)

    assert [first.json()["status"], second.json()["status"]] == ["success", "already_processed"]
    assert PaymentEvent.objects.count() == 2
    assert balance(user) == 1000


def test_any_of_several_signatures_may_match_secret_rotation(api_client, invoice):
    body = payment_body(invoice)
    timestamp = str(int(time.time()))
    valid = signature(body, at=int(timestamp)).split("v1=")[1]

    response = deliver(api_client, body, header=f"t={timestamp},v1={'0' * 64},v1={valid}")

    assert response.status_code == 200


def test_the_previous_secret_is_accepted_while_rotating(api_client, invoice):
    body = payment_body(invoice)

    response = deliver(
        api_client, body, header=signature(body, secret="whsec_tests_payment_previous")
    )

    assert response.status_code == 200


def refused_signatures(body: bytes) -> dict[str, str | None]:
    now = time.time()
    good = signature(body)
    return {
        "missing": None,
        "empty": "",
        "wrong secret": signature(body, secret="whsec_somebody_else"),
        "stale": signature(body, at=now - 310),
        "future": signature(body, at=now + 310),
        "no timestamp": "v1=" + good.split("v1=")[1],
        "no digest": good.split(",")[0],
        "garbage": "this is not a signature",
        "non ascii": good.split(",")[0] + ",v1=é",
    }


def test_bad_signatures_are_400_recorded_and_change_nothing(api_client, user, invoice):
    body = payment_body(invoice)
    for name, header in refused_signatures(body).items():
        before = database_state()

        response = deliver(api_client, body, header=header)

        assert response.status_code == 400, name
        assert response.json()["code"] == "invalid_signature", name
        assert without_events(database_state()) == without_events(before), name
        event = PaymentEvent.objects.order_by("-received_at").first()
        assert (event.signature_valid, event.outcome, event.event_id) == (False, "rejected", "")
    assert balance(user) == 0


def test_a_tampered_body_is_refused(api_client, user, invoice):
    body = payment_body(invoice)
    header = signature(body)
    tampered = body.replace(b"pay-1", b"pay-9")

    response = deliver(api_client, tampered, header=header)

    assert response.status_code == 400
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"


def test_a_forged_delivery_cannot_take_a_real_event_id(api_client, user, invoice):
    body = payment_body(invoice, event_id="evt-real")
    deliver(api_client, body, header=signature(body, secret="forger"))

    response = deliver(api_client, body)

    assert response.json()["status"] == "success"
    assert balance(user) == 1000


def test_with_no_secret_configured_every_delivery_is_refused(api_client, settings, invoice):
    settings.PAYMENT_WEBHOOK_SECRETS = []

    response = deliver(api_client, payment_body(invoice))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"


def refused_payloads(invoice) -> list[tuple[bytes, int, str]]:
    """Each with its own event id: a refused event's redelivery updates its first record."""
    return [
        (b"not json", 400, "validation_error"),
        (b"[1, 2]", 400, "validation_error"),
        (payment_body(invoice, invoice_id=None), 400, "validation_error"),
        (payment_body(invoice, invoice_id="nope"), 400, "validation_error"),
        (payment_body(invoice, payment_reference=None), 400, "validation_error"),
        (payment_body(invoice, currency="US"), 400, "validation_error"),
        (payment_body(invoice, amount="5.001"), 400, "validation_error"),
        (payment_body(invoice, amount="NaN"), 400, "validation_error"),
        (payment_body(invoice, amount=True), 400, "validation_error"),
        (payment_body(invoice, amount=None), 400, "validation_error"),
        # Beyond the 28 digits a decimal keeps: rounding to cents raised, answered 500.
        (payment_body(invoice, amount="1e30"), 400, "validation_error"),
        (payment_body(invoice, amount="123456789012345678901234567.5"), 400, "validation_error"),
        (
            json.dumps({**json.loads(payment_body(invoice)), "amount": 10**30}).encode(),
            400,
            "validation_error",
        ),
        (
            json.dumps({**json.loads(payment_body(invoice)), "amount": 34.001}).encode(),
            400,
            "validation_error",
        ),
        (payment_body(invoice, event_id="e1", invoice_id=str(uuid4())), 404, "not_found"),
        (payment_body(invoice, event_id="e2", amount="34.01"), 400, "amount_mismatch"),
        (payment_body(invoice, event_id="e3", currency="EUR"), 400, "currency_mismatch"),
    ]


def test_refused_payloads_are_recorded_and_change_nothing(api_client, user, invoice):
    for body, status, code in refused_payloads(invoice):
        events = PaymentEvent.objects.count()
        before = database_state()

        response = deliver(api_client, body)

        assert (response.status_code, response.json()["code"]) == (status, code), body
        assert without_events(database_state()) == without_events(before), body
        assert PaymentEvent.objects.count() == events + 1
        event = PaymentEvent.objects.order_by("-received_at").first()
        assert (event.signature_valid, event.outcome) == (True, "rejected")
        assert event.error
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"
    assert balance(user) == 0


@pytest.mark.parametrize(
    "amount", [b'"34.000"', b'"3.4e1"', b'" 34.00"', b'"+34.00"', b'"3_4.00"', b"34.000"]
)
def test_an_amount_that_is_not_plain_money_is_400_and_captures_nothing(
    api_client, user, invoice, amount
):
    """Money is a JSON number or a string of plain digits, with at most the currency's places
    (docs/api.md, Numbers); these equal the invoice's 34.00 in value and are still refused."""
    body = payment_body(invoice).replace(b'"amount": "34.00"', b'"amount": ' + amount)
    before = without_events(database_state())

    response = deliver(api_client, body)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["amount"]
    assert without_events(database_state()) == before
    assert PaymentEvent.objects.get().outcome == "rejected"


def test_an_amount_as_a_json_number_is_accepted(api_client, invoice):
    body = json.dumps({**json.loads(payment_body(invoice)), "amount": 34.0}).encode()

    assert deliver(api_client, body).status_code == 200


def test_a_refused_event_delivered_again_updates_its_record(api_client, invoice):
    body = payment_body(invoice, amount="1.00")
    deliver(api_client, body)

    again = deliver(api_client, body)

    assert again.json()["code"] == "amount_mismatch"
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.deliveries) == ("rejected", 2)


def test_a_cancelled_invoice_is_409_and_a_person_is_told(api_client, invoice):
    """The provider took the money for an invoice we will not fulfil: the answer stays the
    contract's 409, and the delivery is flagged for a person to refund it, as Stripe's
    webhook flags such a payment; it was recorded `rejected`, which nothing counts, so the
    money was kept silently."""
    services.invoice_cancel(invoice_id=invoice.pk)
    before = without_events(database_state())

    response = deliver(api_client, payment_body(invoice))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert without_events(database_state()) == before
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.invoice_id) == ("needs_review", invoice.pk)
    assert event.error.startswith(
        f"Paid at the provider, not captured: Invoice {invoice.number} is cancelled"
    )
    report, code = reconcile()
    assert (code, report["payments_needing_review"]) == (0, 1)
    assert report["needs_review"][0].startswith(
        f"payment event evt-1 (payment.captured) for {invoice.number}"
    )


@pytest.mark.parametrize("event_id", ["evt-1", ""])
def test_the_retries_of_a_payment_for_a_cancelled_invoice_are_one_event_for_a_person(
    api_client, staff_user, invoice, event_id
):
    """The provider retries the 409 (for days); with or without an event id the retries count
    in the first delivery's row, so a person is told once, and once they settled it
    (refunded the money at the provider, say) the retries leave it settled."""
    services.invoice_cancel(invoice_id=invoice.pk)
    body = payment_body(invoice, event_id=event_id)
    deliver(api_client, body)
    payment_event_mark_handled(
        event_id=PaymentEvent.objects.get().pk, staff_id=staff_user.pk, note="Refunded."
    )

    retries = [deliver(api_client, body).status_code for _ in range(2)]

    assert retries == [409, 409]
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.deliveries, event.handled_note) == ("needs_review", 3, "Refunded.")
    report, _ = reconcile()
    assert report["payments_needing_review"] == 0


def test_a_failing_receiver_is_500_recorded_and_the_retry_captures(user, invoice):
    from django.test import Client

    client = Client(raise_request_exception=False)

    def broken(sender, **kwargs):
        raise RuntimeError("downstream is down")

    signals.invoice_paid.connect(broken, dispatch_uid="test.broken")
    try:
        failed = deliver(client, payment_body(invoice))
    finally:
        signals.invoice_paid.disconnect(dispatch_uid="test.broken")

    assert failed.status_code == 500
    event = PaymentEvent.objects.get()
    assert (event.outcome, event.event_id) == ("failed", "evt-1")
    assert "downstream is down" in event.error
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"

    retried = deliver(client, payment_body(invoice))

    assert retried.json()["status"] == "success"
    event.refresh_from_db()
    assert (event.outcome, event.deliveries) == ("processed", 2)
    assert balance(user) == 1000


def test_a_body_over_one_mebibyte_is_413(api_client, invoice):
    body = payment_body(invoice, padding="x" * (1024 * 1024))

    response = deliver(api_client, body)

    assert response.status_code == 413


def test_the_webhook_ignores_jwt_and_throttling(api_client, invoice, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon", "1/minute")
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired")

    statuses = [deliver(api_client, payment_body(invoice)).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


def test_an_unverified_delivery_keeps_only_the_start_of_its_body(api_client, invoice):
    body = payment_body(invoice, padding="x" * 500_000)

    deliver(api_client, body, header="t=1,v1=forged")

    stored = PaymentEvent.objects.get().payload
    assert len(stored) < 10_100
    assert stored.endswith(f"[{len(body)} characters in all]")


def test_a_payment_reference_that_paid_another_invoice_is_409_and_recorded(
    api_client, user, invoice
):
    deliver(api_client, payment_body(invoice, event_id="evt-a", payment_reference="pay-1"))
    other = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    body = payment_body(other, event_id="evt-b", payment_reference="pay-1")
    before = database_state()

    first = deliver(api_client, body)
    again = deliver(api_client, body)

    assert [first.status_code, again.status_code] == [409, 409]
    assert first.json() == {
        "error": "This payment reference already paid another invoice.",
        "code": "invalid_state",
    }
    assert without_events(database_state()) == without_events(before)
    event = PaymentEvent.objects.get(event_id="evt-b")
    assert (event.outcome, event.deliveries, event.invoice_id) == ("needs_review", 2, other.pk)
    assert event.error == (
        "Paid at the provider, not captured: This payment reference already paid another "
        "invoice. "
        "Refund it at the provider or settle it by hand."
    )


def test_a_senders_forgeries_beyond_its_limit_are_refused_and_not_recorded(
    api_client, invoice, monkeypatch
):
    """The webhook is never throttled, so before, anyone could write 10,000 characters a
    request into the database as fast as they could send. Signed deliveries are never held
    back, and another address's forgeries are still recorded."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "forged_webhook", "3/minute")
    body = payment_body(invoice, padding="x" * 20_000)

    forged = [deliver(api_client, body, header="t=1,v1=forged") for _ in range(5)]
    recorded = PaymentEvent.objects.count()
    signed = deliver(api_client, payment_body(invoice))
    elsewhere = api_client.post(
        WEBHOOK,
        data=body,
        content_type="application/json",
        HTTP_X_PAYMENT_SIGNATURE="t=1,v1=forged",
        REMOTE_ADDR="198.51.100.7",
    )

    assert [response.json()["code"] for response in forged] == ["invalid_signature"] * 5
    assert recorded == 3
    assert (signed.status_code, elsewhere.status_code) == (200, 400)
    assert PaymentEvent.objects.filter(signature_valid=False).count() == 4
    assert PaymentEvent.objects.filter(signature_valid=True).count() == 1
