"""The customer's side: the price list, the landing page, invoices with Pay, Cancel and PDF
receipts, plans and add-ons on the purchase page, and the account page. Every refusal is
followed by a check that nothing changed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import PASSWORD, UserFactory
from billing import services as billing
from billing.models import Invoice, Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.helpers import database_state
from tokens.services.alerts import alerts_get
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def plans():
    return [
        PlanFactory(name="Monthly", price=Decimal("29.00"), included_tokens=40, sort_order=0),
        PlanFactory(name="Yearly", price=Decimal("290.00"), billing_period="yearly", sort_order=1),
    ]


@pytest.fixture
def add_on():
    return AddOnFactory(name="Priority support", price=Decimal("9.00"))


@pytest.fixture
def test_mode(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True


# The front page.


def test_visitors_see_the_price_list_with_a_sign_up_call(client, bundles, plans, add_on):
    response = client.get(reverse("pages:home"))

    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("Taster") < page.index("Starter") < page.index("Team")
    assert page.count("Best value") == 1
    assert '$29.00 <span class="per">a month</span>' in page
    assert "40 tokens included a month" in page
    assert "Priority support" in page
    assert f'href="{reverse("pages:sign-up")}"' in page


def test_signed_in_users_land_on_their_balance_and_recent_activity(client, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice)
    fund(user, 5)

    signed_in = client.post(
        reverse("pages:sign-in"), {"username": user.email, "password": PASSWORD}
    )
    page = client.get(signed_in["Location"]).content.decode()

    assert signed_in["Location"] == reverse("pages:home")
    assert '<span class="value" id="home-balance">15</span>' in page
    assert "test funds" in page
    assert invoice.number in page


# Invoices.


def test_invoices_are_mine_newest_first_50_a_page(browser, user, bundles):
    for _ in range(51):
        checkout(user, bundles=bundles[:1])
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice

    first = browser.get(reverse("pages:invoices"))
    second = browser.get(reverse("pages:invoices"), {"page": 2})

    numbers = [invoice.number for invoice in first.context["page"].object_list]
    assert len(numbers) == 50
    assert numbers == sorted(numbers, reverse=True)
    assert len(second.context["page"].object_list) == 1
    assert theirs.number not in first.content.decode() + second.content.decode()
    assert 'data-label="Status"' in first.content.decode()


def test_invoices_filter_by_status(browser, user, bundles):
    paid = checkout(user, bundles=bundles[:1]).invoice
    capture(paid)
    pending = checkout(user, bundles=bundles[:1]).invoice

    response = browser.get(reverse("pages:invoices"), {"status": "paid"})

    page = response.content.decode()
    assert paid.number in page
    assert pending.number not in page


@pytest.mark.parametrize("params", [{"status": "lost"}, {"page": "0"}, {"page": "x"}])
def test_bad_invoice_filters_are_400(browser, params):
    assert browser.get(reverse("pages:invoices"), params).status_code == 400


def test_a_pending_invoice_shows_its_lines_totals_pay_and_cancel(browser, user, bundles, test_mode):
    invoice = checkout(user, bundles=[bundles[0], bundles[0], bundles[1]]).invoice

    page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()

    assert invoice.number in page
    assert "Taster (10 tokens)" in page
    assert '<td class="number" id="invoice-total">$65.00</td>' in page
    assert "Pay $65.00" in page
    assert "Cancel invoice" in page
    assert "Download receipt" not in page


def test_a_paid_invoice_offers_its_receipt_not_pay(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice, reference="pay-42")

    page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()
    pdf = browser.get(reverse("pages:receipt", args=[invoice.pk]))

    assert "pay-42" in page
    assert "Download receipt (PDF)" in page
    assert "Cancel invoice" not in page
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")


def test_pay_goes_to_the_test_payment_page(browser, user, bundles, test_mode):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    response = browser.post(reverse("pages:invoice-pay", args=[invoice.pk]))

    assert response.status_code == 302
    assert response["Location"] == f"/test-checkout/{invoice.pk}"


def test_cancel_cancels_a_pending_invoice(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    response = browser.post(reverse("pages:invoice-cancel", args=[invoice.pk]), follow=True)

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert f"Invoice {invoice.number} is cancelled. Nothing was charged." in (
        response.content.decode()
    )


@pytest.mark.parametrize("action", ["invoice-pay", "invoice-cancel"])
def test_paying_or_cancelling_an_invoice_that_is_not_pending_changes_nothing(
    browser, user, bundles, action, test_mode
):
    paid = checkout(user, bundles=bundles[:1]).invoice
    capture(paid)
    cancelled = checkout(user, bundles=bundles[:1]).invoice
    billing.invoice_cancel(invoice_id=cancelled.pk)
    before = database_state()

    answers = [browser.post(reverse(f"pages:{action}", args=[i.pk])) for i in (paid, cancelled)]

    assert [answer.status_code for answer in answers] == [409, 409]
    assert "only a pending" in answers[0].content.decode().lower()
    assert 'role="alert"' in answers[1].content.decode()
    assert database_state() == before


@pytest.mark.parametrize("name", ["invoice", "receipt"])
def test_another_users_invoice_and_receipt_are_404(browser, bundles, name):
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice
    capture(theirs)

    assert browser.get(reverse(f"pages:{name}", args=[theirs.pk])).status_code == 404


@pytest.mark.parametrize("action", ["invoice-pay", "invoice-cancel"])
def test_paying_or_cancelling_another_users_invoice_is_404_and_changes_nothing(
    browser, bundles, action, test_mode
):
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice
    before = database_state()

    response = browser.post(reverse(f"pages:{action}", args=[theirs.pk]))

    assert response.status_code == 404
    assert database_state() == before


def test_a_pending_invoice_has_no_receipt(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    assert browser.get(reverse("pages:receipt", args=[invoice.pk])).status_code == 404


def test_a_forged_csrf_token_cancels_nothing(user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    before = database_state()

    response = client.post(
        reverse("pages:invoice-cancel", args=[invoice.pk]), {"csrfmiddlewaretoken": "x" * 64}
    )

    assert response.status_code == 403
    assert database_state() == before


def test_without_a_provider_the_invoice_says_payments_are_unavailable(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    before = database_state()

    page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()
    paying = browser.post(reverse("pages:invoice-pay", args=[invoice.pk]))

    assert "Payments are not available right now" in page
    assert paying.status_code == 503
    assert "nothing was charged" in paying.content.decode()
    assert database_state() == before


# Plans and add-ons on the purchase page.


def buy(client, *, plan=None, bundles=(), add_ons=()):
    return client.post(
        reverse("pages:purchase"),
        {
            "plan": str(plan.pk) if plan else "",
            "bundles": [str(b.pk) for b in bundles],
            "add_ons": [str(a.pk) for a in add_ons],
            "submission": str(uuid.uuid4()),
        },
    )


def test_the_purchase_page_offers_plans_and_add_ons_with_prices_for_the_total(
    browser, bundles, plans, add_on, test_mode
):
    page = browser.get(reverse("pages:purchase")).content.decode()

    assert 'data-minor="1000"' in page  # Taster, $10.00
    assert 'data-minor="2900"' in page  # Monthly, $29.00
    assert 'data-minor="900"' in page  # the add-on, $9.00
    assert 'id="checkout-bar"' in page
    assert "Add-ons come with a plan" in page


def test_subscribing_with_an_add_on_and_a_bundle_is_one_checkout(
    browser, user, bundles, plans, add_on, test_mode
):
    response = buy(browser, plan=plans[0], bundles=bundles[:1], add_ons=[add_on])

    invoice = Invoice.objects.get(user=user)
    assert response["Location"] == f"/test-checkout/{invoice.pk}"
    assert invoice.total == Decimal("48.00")
    assert Subscription.objects.get(user=user).plan == plans[0]
    assert invoice.add_on_subscriptions.get().add_on == add_on


def test_add_ons_without_a_plan_are_refused_on_their_field_and_order_nothing(
    browser, add_on, plans, test_mode
):
    before = database_state()

    response = buy(browser, add_ons=[add_on])

    assert response.status_code == 400
    assert "Add-ons need a plan" in response.content.decode()
    assert database_state() == before


def test_a_subscriber_sees_the_plan_and_may_buy_add_ons_alone(
    browser, user, plans, add_on, test_mode
):
    capture(checkout(user, plan=plans[0]).invoice)

    page = browser.get(reverse("pages:purchase")).content.decode()
    response = buy(browser, add_ons=[add_on])

    assert "Your plan: <strong>Monthly</strong>" in page
    assert "They join your current plan." in page
    assert response.status_code == 302
    assert Invoice.objects.filter(user=user, status="pending").get().total == Decimal("9.00")


# The account page.


def test_the_account_page_shows_email_plan_period_tokens_and_what_expires(browser, user, plans):
    capture(checkout(user, plan=plans[0]).invoice)
    fund(user, 7)
    soon = grant(user, 5, expires_at=timezone.now() + timedelta(days=3)).expires_at

    response = browser.get(reverse("pages:account"))

    page = response.content.decode()
    subscription = Subscription.objects.get(user=user)
    assert user.email in page
    assert "Monthly (monthly)" in page
    assert f"{subscription.starts_at:%-d %b %Y} to {subscription.expires_at:%-d %b %Y}" in page
    by_category = response.context["summary"].balance.by_category
    assert by_category == {"trial": 0, "promotional": 12, "included": 40, "paid": 0}
    assert f'5 tokens on <time datetime="{soon:%Y-%m-%dT%H:%M:%S}' in page
    assert reverse("pages:usage") in page
    assert reverse("pages:invoices") in page


def test_changing_the_password_keeps_the_session_signed_in(browser, user):
    response = browser.post(
        reverse("pages:account-password"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-2026",
            "new_password2": "a-new-long-passphrase-2026",
        },
    )

    user.refresh_from_db()
    assert response.status_code == 302
    assert user.check_password("a-new-long-passphrase-2026")
    assert browser.get(reverse("pages:account")).status_code == 200


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("wrong-password", "a-new-long-passphrase-2026", "old password was entered incorrectly"),
        (PASSWORD, "123", "too short"),
    ],
)
def test_a_refused_password_change_changes_nothing(browser, old, new, message):
    before = database_state()

    response = browser.post(
        reverse("pages:account-password"),
        {"old_password": old, "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    assert database_state() == before


@pytest.mark.parametrize(
    ("form", "stored"),
    [
        ({"when": "own", "threshold": "25"}, 25),
        ({"when": "never", "threshold": ""}, 0),
        ({"when": "default", "threshold": "999"}, None),
    ],
)
def test_the_low_balance_threshold_is_set_from_the_account_page(browser, user, form, stored):
    response = browser.post(reverse("pages:account-alerts"), form)

    assert response.status_code == 302
    assert alerts_get(user_id=user.pk) == stored


@pytest.mark.parametrize(
    "form",
    [
        {"when": "own", "threshold": ""},
        {"when": "own", "threshold": "-1"},
        {"when": "sometimes"},
        {"when": "own", "threshold": "99999999999"},
    ],
)
def test_a_refused_threshold_changes_nothing(browser, form):
    before = database_state()

    response = browser.post(reverse("pages:account-alerts"), form)

    assert response.status_code == 400
    assert database_state() == before


@pytest.mark.parametrize("name", ["account", "invoices", "account-password", "account-alerts"])
def test_the_customer_pages_need_a_signed_in_user(client, name):
    response = client.get(reverse(f"pages:{name}"))

    assert response.status_code in {302, 405}
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("pages:sign-in"))
