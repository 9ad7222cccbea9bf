import pytest

from billing import services
from billing.models import AddOnSubscription, Invoice, PaymentEvent, Subscription
from billing.tests.helpers import capture, checkout, deliver, payment_body
from billing.tests.reconcile_helpers import reconcile
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_changes, database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


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


def test_a_payment_on_the_session_of_a_checkout_a_refund_cancelled_is_flagged_by_reconcile(
    user, user_client, fake_stripe, django_capture_on_commit_callbacks
):
    """Its Stripe webhook lost, the payment taken as the refund cancelled the add-ons'
    checkout was that log line only: the customer paid for add-ons they never got."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    paying = user_client.post(f"/api/v1/user/invoices/{add_ons.pk}/pay", {"provider": "stripe"})
    session = fake_stripe.complete(paying.json()["session_id"])["data"]["object"]
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_refund(invoice_id=plan.pk)

    report, code = reconcile()

    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    assert (flagged.invoice_id, flagged.payment_reference) == (
        add_ons.pk,
        session["payment_intent"],
    )
    assert (code, report["payments_needing_review"]) == (0, 1)
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert not AddOnSubscription.objects.filter(status="active").exists()
