from decimal import Decimal

import pytest

from billing import services
from billing.models import AddOnSubscription, Invoice, Subscription, TokenBundlePurchase
from billing.tests.helpers import capture, checkout, deliver, payment_body
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.errors import InvalidState
from common.tests.helpers import database_changes, database_state
from tokens import services as token_services
from tokens.models import TokenAccount, TokenTransaction
from tokens.selectors import ledger_check

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def paid(user):
    """A paid order: a plan, an add-on, and bundles of 1000 and 50 tokens."""
    result = checkout(
        user,
        plan=PlanFactory(),
        bundles=[
            TokenBundleFactory(token_amount=1000, price=Decimal("5.00")),
            TokenBundleFactory(token_amount=50, price=Decimal("45.00")),
        ],
        add_ons=[AddOnFactory()],
    )
    capture(result.invoice)
    return result


def balance(user) -> int:
    return TokenAccount.objects.get(user=user).balance


def reversals(user) -> list[tuple[int, str]]:
    entries = TokenTransaction.objects.filter(account__user=user, transaction_type="reversal")
    return sorted(entries.values_list("amount", "reference_id"))


def test_a_refund_takes_back_every_unspent_token_and_ends_everything(user, paid):
    result = services.invoice_refund(invoice_id=paid.invoice.pk)

    assert (result.tokens_reversed, result.tokens_unrecovered) == (1050, 0)
    assert (result.subscriptions_cancelled, result.addons_cancelled) == (1, 1)
    invoice = Invoice.objects.get(pk=paid.invoice.pk)
    assert (invoice.status, invoice.refunded_at is not None) == ("refunded", True)
    assert Subscription.objects.get(invoice=invoice).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=invoice).status == "cancelled"
    assert balance(user) == 0
    purchases = TokenBundlePurchase.objects.filter(invoice=invoice)
    assert reversals(user) == sorted((-p.tokens, str(p.pk)) for p in purchases)
    assert {(p.status, p.tokens_reversed, p.tokens_unrecovered) for p in purchases} == {
        ("refunded", 1000, 0),
        ("refunded", 50, 0),
    }
    assert list(ledger_check()) == []


def test_spent_tokens_are_recorded_not_taken_below_zero(user, paid):
    token_services.tokens_debit(user_id=user.pk, amount=1020)

    result = services.invoice_refund(invoice_id=paid.invoice.pk)

    assert (result.tokens_reversed, result.tokens_unrecovered) == (30, 1020)
    assert balance(user) == 0
    purchases = TokenBundlePurchase.objects.filter(invoice=paid.invoice)
    assert sum(p.tokens_reversed for p in purchases) == 30
    assert sum(p.tokens_unrecovered for p in purchases) == 1020
    assert not TokenTransaction.objects.filter(balance_after__lt=0).exists()
    assert list(ledger_check()) == []


def test_with_everything_spent_nothing_is_reversed_and_all_is_recorded(user, paid):
    token_services.tokens_debit(user_id=user.pk, amount=1050)

    result = services.invoice_refund(invoice_id=paid.invoice.pk)

    assert (result.tokens_reversed, result.tokens_unrecovered) == (0, 1050)
    assert reversals(user) == []


def test_a_second_refund_is_refused_and_changes_nothing(paid):
    services.invoice_refund(invoice_id=paid.invoice.pk)
    before = database_state()

    with pytest.raises(services.InvoiceAlreadyRefunded):
        services.invoice_refund(invoice_id=paid.invoice.pk)

    assert database_state() == before


def test_only_a_paid_invoice_can_be_refunded(user):
    pending = checkout(user, bundles=[TokenBundleFactory()]).invoice

    with pytest.raises(InvalidState, match="paid"):
        services.invoice_refund(invoice_id=pending.pk)


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


def stripe_paid(user, fake_stripe) -> Invoice:
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=100)]).invoice
    Invoice.objects.filter(pk=invoice.pk).update(stripe_session_id="cs_test_x")
    services.invoice_capture(
        invoice_id=invoice.pk, payment_reference="pi_test_9", provider="stripe"
    )
    return invoice


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


def test_stripe_failing_on_refund_is_502_and_changes_nothing(staff_client, user, fake_stripe):
    invoice = stripe_paid(user, fake_stripe)
    fake_stripe.fail_next(1)
    before = database_state()

    response = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")

    assert response.status_code == 502
    assert database_state() == before


def test_staff_refund_needs_staff(api_client, user_client, paid):
    for client, status in ((api_client, 401), (user_client, 403)):
        assert client.post(f"/api/v1/admin/invoices/{paid.invoice.pk}/refund").status_code == status
    assert Invoice.objects.get(pk=paid.invoice.pk).status == "paid"


def test_refunding_a_plan_cancels_the_pending_checkouts_of_add_ons_that_need_it(api_client, user):
    """Add-ons need a plan in their checkout or an active subscription: a checkout of add-ons
    alone relies on the plan, so its refund cancels that checkout, and a payment for it
    afterwards activates nothing (409, as for any cancelled invoice)."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    bundles = checkout(user, bundles=[TokenBundleFactory()]).invoice

    services.invoice_refund(invoice_id=plan.pk)
    before = database_state()
    response = deliver(api_client, payment_body(add_ons, payment_reference="pay-2"))

    assert (response.status_code, response.json().get("code")) == (409, "invalid_state")
    assert list(database_changes(before, database_state())) == ["billing.PaymentEvent"]
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"
    assert Invoice.objects.get(pk=bundles.pk).status == "pending"
    assert not AddOnSubscription.objects.filter(status="active").exists()


def test_a_plans_refund_expires_the_stripe_session_of_an_add_on_checkout_it_cancels(
    user, user_client, fake_stripe, django_capture_on_commit_callbacks
):
    """Cancelled here, the add-ons' invoice was still payable in the customer's Stripe tab:
    the money would have been taken for an invoice that no longer credits anything."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    paying = user_client.post(f"/api/v1/user/invoices/{add_ons.pk}/pay", {"provider": "stripe"})
    session_id = paying.json()["session_id"]

    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_refund(invoice_id=plan.pk)

    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert fake_stripe.sessions[session_id]["status"] == "expired"


def test_a_session_stripe_cannot_expire_after_the_refund_is_logged_and_the_refund_stands(
    user, user_client, fake_stripe, django_capture_on_commit_callbacks, caplog
):
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    paying = user_client.post(f"/api/v1/user/invoices/{add_ons.pk}/pay", {"provider": "stripe"})
    fake_stripe.complete(paying.json()["session_id"])

    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_refund(invoice_id=plan.pk)

    assert Invoice.objects.get(pk=plan.pk).status == "refunded"
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert "needs review" in caplog.text


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


def test_a_plan_refunded_after_the_sweep_recorded_it_expired_is_cancelled(user, paid):
    """The refund ended an active plan as cancelled, but one the sweep had recorded expired
    stayed expired (and was not counted), so staff saw 'expired' beside a refunded invoice,
    and what they saw depended on whether the sweep had run before the refund."""
    Subscription.objects.filter(invoice=paid.invoice).update(status="expired")
    AddOnSubscription.objects.filter(invoice=paid.invoice).update(status="expired")

    result = services.invoice_refund(invoice_id=paid.invoice.pk)

    assert (result.subscriptions_cancelled, result.addons_cancelled) == (1, 1)
    assert Subscription.objects.get(invoice=paid.invoice).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=paid.invoice).status == "cancelled"
