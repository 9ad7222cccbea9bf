import pytest

from billing.models import Invoice
from billing.tests.helpers import checkout
from billing.tests.refund_helpers import balance, stripe_paid
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_staff_refund_of_a_manual_payment(staff_client, user, paid):
    response = staff_client.post(f"/api/v1/admin/invoices/{paid.invoice.pk}/refund")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["refunded_at"] is not None) == ("refunded", True)
    # Paid outside the providers: its money goes back outside this service too.
    assert (body.get("provider_refunded"), body.get("provider_refund_skipped")) == (
        False,
        "not_stripe",
    )
    assert {(p["tokens_reversed"], p["tokens_unrecovered"]) for p in body["token_purchases"]} == {
        (1000, 0),
        (50, 0),
    }


def test_staff_refund_again_is_409(staff_client, paid):
    staff_client.post(f"/api/v1/admin/invoices/{paid.invoice.pk}/refund")
    before = database_state()

    response = staff_client.post(f"/api/v1/admin/invoices/{paid.invoice.pk}/refund")

    assert response.status_code == 409
    assert response.json()["code"] == "already_refunded"
    assert database_state() == before


def test_staff_refund_of_a_pending_invoice_is_409(staff_client, user):
    pending = checkout(user, bundles=[TokenBundleFactory()]).invoice

    response = staff_client.post(f"/api/v1/admin/invoices/{pending.pk}/refund")

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")


def test_staff_refund_of_a_stripe_payment_refunds_at_stripe_first(staff_client, user, fake_stripe):
    invoice = stripe_paid(user, fake_stripe)

    response = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")

    assert response.status_code == 200
    body = response.json()
    assert (body.get("provider_refunded"), body.get("provider_refund_skipped")) == (True, None)
    [sent] = fake_stripe.requests
    assert (sent.path, sent.params["payment_intent"]) == ("/v1/refunds", "pi_test_9")
    assert sent.headers["Idempotency-Key"] == f"refund:{invoice.pk}"
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"


def test_staff_refund_needs_staff(api_client, user_client, paid):
    for client, status in ((api_client, 401), (user_client, 403)):
        assert client.post(f"/api/v1/admin/invoices/{paid.invoice.pk}/refund").status_code == status
    assert Invoice.objects.get(pk=paid.invoice.pk).status == "paid"


def test_staff_refund_of_a_payment_refunded_at_stripe_already_refunds_here(
    api_client, user_client, staff_client, user, fake_stripe
):
    """Refunded in Stripe's dashboard, its charge.refunded webhook lost (or not yet retried):
    Stripe refuses a second refund (400 charge_already_refunded), and the staff refund here
    was a 502 "nothing changed" on every try, so the tokens of a payment whose money had gone
    back stayed spendable (reconciliation looks only at payments of the last 24 h). The
    money is back, so the refund here goes ahead."""
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=100)]).invoice
    paid = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"})
    session = paid.json()["session_id"]
    body, header = fake_stripe.signed(fake_stripe.complete(session))
    api_client.post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    fake_stripe.refunded(session)

    response = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")

    assert response.status_code == 200
    assert (
        response.json()["status"],
        response.json()["token_purchases"][0]["tokens_reversed"],
    ) == (
        "refunded",
        100,
    )
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    assert balance(user) == 0
    assert [request.path for request in fake_stripe.requests[-1:]] == ["/v1/refunds"]
    # Staff are told that no money went back now.
    assert (
        response.json().get("provider_refunded"),
        response.json().get("provider_refund_skipped"),
    ) == (False, "already_refunded")


def test_staff_refund_of_a_disputed_stripe_payment_says_stripe_refunded_nothing(
    api_client, user_client, staff_client, user, fake_stripe
):
    """Stripe refuses to refund a disputed payment and the refund goes ahead here; the answer
    was the same 200 `refunded` as a refund Stripe made, so staff using the API believed the
    customer had the money back."""
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=100)]).invoice
    paid = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"})
    session = paid.json()["session_id"]
    for event in (fake_stripe.complete(session), fake_stripe.disputed(session)):
        body, header = fake_stripe.signed(event)
        api_client.post(
            "/api/v1/webhooks/stripe",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )

    response = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")

    assert (response.status_code, response.json()["status"]) == (200, "refunded")
    assert (
        response.json().get("provider_refunded"),
        response.json().get("provider_refund_skipped"),
    ) == (False, "disputed")
