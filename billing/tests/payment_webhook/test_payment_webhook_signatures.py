import time

import pytest

from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import WEBHOOK, deliver, payment_body, refused_count, signature
from billing.tests.payment_webhook.helpers import balance, without_events
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite, pytest.mark.usefixtures("one_window")]


def test_any_of_several_signatures_may_match_secret_rotation(api_client, invoice):
    body = payment_body(invoice)
    timestamp = str(int(time.time()))
    valid = signature(body, at=int(timestamp)).split("v1=")[1]

    response = deliver(api_client, body, header=f"t={timestamp},v1={'0' * 64},v1={valid}")

    assert response.status_code == 200


def test_a_digest_in_upper_case_hex_is_the_same_signature(api_client, invoice):
    """Hex is hex in either case: a sender whose platform writes it upper case (.NET's
    Convert.ToHexString) had every delivery refused 400 `invalid_signature`."""
    body = payment_body(invoice)
    timestamp, digest = signature(body).split(",v1=")

    response = deliver(api_client, body, header=f"{timestamp},v1={digest.upper()}")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "success"
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


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


def test_a_body_over_one_mebibyte_is_413_counted_and_logged_but_not_recorded(
    api_client, invoice, caplog, django_capture_on_commit_callbacks
):
    body = payment_body(invoice, padding="x" * (1024 * 1024))
    refused = refused_count("payment", "too_large")
    before = database_state()

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api_client, body)

    assert response.status_code == 413
    assert refused_count("payment", "too_large") == refused + 1
    assert "payment webhook delivery" in caplog.text
    assert database_state() == before


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
