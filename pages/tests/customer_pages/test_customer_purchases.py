"""The customer's side: the price list, the landing page, invoices with Pay, Cancel and PDF
receipts, plans and add-ons on the purchase page, and the account page. Every refusal is
followed by a check that nothing changed."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from billing.models import Invoice, Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory
from common.tests.helpers import database_state
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def add_on():
    return AddOnFactory(name="Priority support", price=Decimal("9.00"))


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
