"""What the customer's pages say about plans: the add-ons' hint on the purchase page, the
home page's way to the plans, an invoice of add-ons whose plan has ended, and a plan renewed
early (its next period waits for the running one to end)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def plan():
    return PlanFactory(name="Monthly", price=Decimal("29.00"), included_tokens=40)


@pytest.fixture
def add_on():
    return AddOnFactory(name="Priority support", price=Decimal("9.00"))


@pytest.fixture
def test_mode(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True


def hint(page: str) -> str:
    """The add-ons' hint as shown: its text without the parts marked `hidden`."""
    found = re.search(r'<p class="help" id="add-ons-help">(.*?)</p>', page, re.S)
    assert found, "no hint on the add-ons"
    text = re.sub(r"<span[^>]* hidden>.*?</span>", "", found.group(1), flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", "", text).split())


# The purchase page's hint on add-ons.


def test_the_add_ons_hint_asks_for_a_plan_only_while_none_is_chosen(
    browser, plan, add_on, test_mode
):
    """A Buy refused for another reason draws the page again with the plan ticked: the hint
    said "choose one above" all the same."""
    page = browser.get(reverse("pages:purchase")).content.decode()
    refused = browser.post(
        reverse("pages:purchase"),
        {
            "plan": str(plan.pk),
            "add_ons": [str(add_on.pk), str(uuid.uuid4())],
            "submission": str(uuid.uuid4()),
        },
    ).content.decode()

    assert hint(page) == "Add-ons come with a plan: choose one above to add them."
    assert hint(refused) == "They come with the plan you chose."


def test_a_subscriber_is_not_asked_to_choose_a_plan_for_add_ons(
    browser, user, plan, add_on, test_mode
):
    capture(checkout(user, plan=plan).invoice)

    page = browser.get(reverse("pages:purchase")).content.decode()

    assert hint(page) == "They join your current plan."


# The way to the plans.


@pytest.mark.parametrize("name", ["home", "account"])
def test_without_a_plan_on_sale_no_page_leads_to_the_plans(browser, name):
    page = browser.get(reverse(f"pages:{name}")).content.decode()

    assert f'href="{reverse("pages:purchase")}#plans"' not in page


@pytest.mark.parametrize("name", ["home", "account"])
def test_with_a_plan_on_sale_a_user_without_one_is_led_to_the_plans(browser, plan, name):
    page = browser.get(reverse(f"pages:{name}")).content.decode()

    assert f'href="{reverse("pages:purchase")}#plans"' in page
