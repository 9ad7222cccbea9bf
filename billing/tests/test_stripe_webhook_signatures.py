import json

import pytest
import stripe
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import refused_count
from billing.tests.stripe_webhook_helpers import STRIPE, send, without_events
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_window")]


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


def _refused_signed(body: str, fake_stripe):
    """Posts `body` signed with Stripe's secret and checks what every refusal of a signed
    body does: the delivery is recorded `rejected` (its signature valid, no event id) and
    nothing else changes. Returns the answer."""
    header = stripe.WebhookSignature.generate_signature_header(body, fake_stripe.webhook_secret)
    before = database_state()

    response = Client(raise_request_exception=False).post(
        STRIPE, data=body.encode(), content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )

    assert without_events(database_state()) == without_events(before)
    recorded = PaymentEvent.objects.get()
    assert (recorded.signature_valid, recorded.outcome, recorded.event_id) == (
        True,
        "rejected",
        "",
    )
    return response


def test_a_signed_body_nested_too_deeply_is_a_400_recorded_and_changes_nothing(
    order, session, fake_stripe
):
    """Only the signature is checked before the body is parsed, so anyone with a signed
    delivery (Stripe, or whoever holds the secret) reached json.loads with 100,000 levels of
    brackets: RecursionError, a 500 that recorded nothing, and Stripe retried it for days.
    The capture webhook answers such a body 400 `validation_error` (e580b42); so does this one."""
    deep = "[" * 100_000 + "]" * 100_000
    body = '{"id": "evt_deep", "type": "checkout.session.completed", "data": ' + deep + "}"
    response = _refused_signed(body, fake_stripe)

    assert response.status_code == 400
    assert response.json() == {
        "error": "The body is not valid JSON: values are nested too deeply.",
        "code": "validation_error",
        "fields": {
            "non_field_errors": ["The body is not valid JSON: values are nested too deeply."]
        },
    }
    assert Invoice.objects.get(pk=order.invoice.pk).status == "pending"


@pytest.mark.parametrize("header", ["t=1800000000,v1=\u00e9", "t=1800000000,v1=ab\u00ff"])
def test_a_signature_header_that_is_not_ascii_is_400_recorded_and_changes_nothing(
    order, session, fake_stripe, header
):
    """The SDK compares the signatures with hmac.compare_digest, which refuses text that is
    not ASCII (TypeError): anyone could post such a header and get a 500, nothing recorded."""
    body, _ = fake_stripe.signed(fake_stripe.complete(session))
    before = database_state()

    response = Client(raise_request_exception=False).post(
        STRIPE, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")
    assert without_events(database_state()) == without_events(before)
    recorded = PaymentEvent.objects.get()
    assert (recorded.signature_valid, recorded.outcome, recorded.event_id) == (
        False,
        "rejected",
        "",
    )


def test_no_configured_secret_refuses_everything(api_client, settings, session, fake_stripe):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = send(api_client, fake_stripe, fake_stripe.complete(session))

    assert response.status_code == 400


def test_a_body_over_one_mebibyte_is_413_counted_and_logged_but_not_recorded(
    api_client, fake_stripe, caplog, django_capture_on_commit_callbacks
):
    """Before, it showed nowhere but the access line of an unmatched view: a genuine event
    that large, refused at each of Stripe's retries, was lost with nothing to alert on. It
    counts as a refused delivery, as a bad signature does; a row per junk body would not
    do."""
    event = fake_stripe.event("customer.created", {"padding": "x" * (1024 * 1024)})
    refused = refused_count("stripe", "too_large")
    before = database_state()

    with django_capture_on_commit_callbacks(execute=True):
        response = send(api_client, fake_stripe, event)

    assert response.status_code == 413
    assert refused_count("stripe", "too_large") == refused + 1
    assert "stripe webhook delivery" in caplog.text
    assert database_state() == before


def test_the_stored_payload_is_the_raw_body(api_client, session, fake_stripe):
    event = fake_stripe.complete(session)

    send(api_client, fake_stripe, event)

    assert json.loads(PaymentEvent.objects.get().payload) == event


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


def _with(event: dict, path: tuple, value: object) -> dict:
    changed = json.loads(json.dumps(event))
    *parents, name = path
    target = changed
    for parent in parents:
        target = target[parent]
    target[name] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("id",), "evt_\ud800"),
        (("type",), "checkout.session.completed\udfff"),
        (("data", "object", "payment_intent"), "pi_\ud800"),
        (("data", "object", "payment_intent"), "pi_\x00"),
        (("data", "object", "id"), "cs_\udc00"),
        (("data", "object", "metadata"), {"note\ud800": "x"}),
    ],
    ids=["id", "type", "payment intent", "NUL", "session id", "metadata key"],
)
def test_a_signed_event_holding_text_no_database_can_store_is_a_400_recorded_and_changes_nothing(
    order, session, fake_stripe, path, value
):
    """JSON lets a string carry a lone surrogate ("\\ud800"), which no UTF-8 holds, or a NUL,
    which PostgreSQL's text refuses. A signed event with one in its id, type or payment
    reference answered 500: claiming its row failed, and so did the record of that failure,
    so nothing was recorded and Stripe retried it for days. It is refused as a body that
    cannot be parsed is (above): 400, recorded, nothing else changes."""
    event = _with(fake_stripe.complete(session), path, value)
    body = json.dumps(event)
    response = _refused_signed(body, fake_stripe)

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert Invoice.objects.get(pk=order.invoice.pk).status == "pending"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("id",), "evt_" + "x" * 300, "id"),
        (("type",), ["checkout.session.completed"], "type"),
        (("type",), {"name": "checkout.session.completed"}, "type"),
    ],
    ids=["id too long", "type a list", "type an object"],
)
def test_a_signed_event_whose_id_or_type_cannot_be_one_is_a_400_recorded_and_changes_nothing(
    order, session, fake_stripe, path, value, field
):
    """An id longer than the column (255) could be neither claimed nor recorded as failed,
    and a type that is not text failed the lookup of what to do with it (unhashable): 500,
    and Stripe retried it for days, nothing recorded for the first and `failed` for the
    second. Both name no event this service could act on."""
    event = _with(fake_stripe.complete(session), path, value)
    body = json.dumps(event)
    response = _refused_signed(body, fake_stripe)

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize(
    "body",
    [
        '{"id": "evt_deep", "type": "checkout.session.completed", "data": '
        + "[" * 100_000
        + "]" * 100_000
        + "}",
        '{"id": "evt_\\ud800", "type": "checkout.session.completed", "data": {"object": '
        '{"id": "cs_1", "payment_intent": "pi_\\ud800", "payment_status": "paid"}}}',
    ],
    ids=["nested too deeply", "lone surrogate"],
)
def test_re_processing_a_refused_signed_body_is_refused_in_the_admin_and_changes_nothing(
    order, fake_stripe, staff_user, body
):
    """A signed body refused on delivery is kept with its signature valid, so the admin
    offered to re-process it, and parsing it again there failed as the delivery had: a 500
    page (RecursionError, UnicodeEncodeError). It is refused with a message, as a capture
    webhook's stored body that no longer parses is."""
    header = stripe.WebhookSignature.generate_signature_header(body, fake_stripe.webhook_secret)
    Client().post(
        STRIPE, data=body.encode(), content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    refused = PaymentEvent.objects.get(signature_valid=True, outcome="rejected")
    staff_user.is_superuser = True
    staff_user.save()
    browser = Client(raise_request_exception=False)
    browser.force_login(staff_user)
    before = database_state()

    response = browser.post(
        reverse("admin:billing_paymentevent_changelist"),
        {"action": "reprocess", ACTION_CHECKBOX_NAME: [refused.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "The stored payload is not valid" in response.content.decode()
    assert database_state() == before
