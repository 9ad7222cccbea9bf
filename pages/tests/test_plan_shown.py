"""What the customer's pages say about plans: the add-ons' hint on the purchase page, the
home page's way to the plans, an invoice of add-ons whose plan has ended, and a plan renewed
early (its next period waits for the running one to end)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.models import Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


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


# An invoice of add-ons whose plan has ended.


@pytest.fixture
def add_ons_left_alone(user, plan, add_on):
    """A plan paid on START and a checkout of add-ons alone on it, still pending."""
    with time_machine.travel(START, tick=False):
        capture(checkout(user, plan=plan).invoice)
        return checkout(user, add_ons=[add_on]).invoice


def test_an_invoice_of_add_ons_whose_plan_has_ended_offers_no_pay_and_says_why(
    browser, add_ons_left_alone, test_mode
):
    """Between the plan's end and the sweep that cancels such a checkout, Pay was offered and
    pressing it was refused."""
    invoice = add_ons_left_alone
    ended = Subscription.objects.get().expires_at

    with time_machine.travel(ended + timedelta(minutes=1), tick=False):
        page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()
        before = database_state()
        refused = browser.post(reverse("pages:invoice-pay", args=[invoice.pk]))

    assert 'id="pay"' not in page
    assert "The plan these add-ons come with has ended" in page
    assert 'id="cancel-invoice"' in page
    assert refused.status_code == 409
    assert database_state() == before


def test_an_invoice_of_add_ons_whose_plan_runs_offers_pay(browser, add_ons_left_alone, test_mode):
    with time_machine.travel(START + timedelta(days=1), tick=False):
        page = browser.get(reverse("pages:invoice", args=[add_ons_left_alone.pk])).content.decode()

    assert 'id="pay"' in page
    assert "has ended" not in page


def test_an_invoice_of_add_ons_whose_plan_was_renewed_offers_pay(
    browser, user, plan, add_ons_left_alone, test_mode
):
    """A plan running after the one they rely on (a renewal): the capture moves them to it."""
    ended = Subscription.objects.get().expires_at
    with time_machine.travel(START + timedelta(days=20), tick=False):
        capture(checkout(user, plan=plan).invoice, reference="renewal")

    with time_machine.travel(ended + timedelta(minutes=1), tick=False):
        page = browser.get(reverse("pages:invoice", args=[add_ons_left_alone.pk])).content.decode()

    assert 'id="pay"' in page
    assert "has ended" not in page


# A plan renewed early: the next period starts where the running one ends.


@pytest.fixture
def renewed(user, plan):
    """Monthly paid on 2 Mar 2026 (to 2 Apr) and again on 22 Mar: 2 Apr to 2 May."""
    with time_machine.travel(START, tick=False):
        capture(checkout(user, plan=plan).invoice)
    with time_machine.travel(START + timedelta(days=20), tick=False):
        renewal = checkout(user, plan=plan).invoice
        capture(renewal, reference="renewal")
    return renewal


def test_a_plan_renewed_early_shows_when_its_next_period_starts(browser, renewed, test_mode):
    """The home page said "Monthly until 2 Apr 2026" of a plan paid to 2 May, the account page
    only the running period, the purchase page that a plan paid again starts when it is
    paid, and the renewal's invoice "active" for a period not yet begun."""
    with time_machine.travel(START + timedelta(days=21), tick=False):
        home, account, purchase, invoice = (
            browser.get(url).content.decode()
            for url in (
                reverse("pages:home"),
                reverse("pages:account"),
                reverse("pages:purchase"),
                reverse("pages:invoice", args=[renewed.pk]),
            )
        )

    assert "until 2 Apr 2026, 09:00 UTC; next period from 2 Apr 2026, 09:00 UTC" in home
    assert "Current period</dt><dd>2 Mar 2026, 09:00 UTC to 2 Apr 2026, 09:00 UTC" in account
    assert "Next period</dt><dd>2 Apr 2026, 09:00 UTC to 2 May 2026, 09:00 UTC (paid)" in account
    assert "active until 2 Apr 2026, 09:00 UTC, then paid to 2 May 2026, 09:00 UTC." in purchase
    assert "A new plan starts when it is paid" not in purchase
    assert "Paying Monthly again adds a period after the last one paid" in purchase
    assert (
        "Monthly plan: paid, starts 2 Apr 2026, 09:00 UTC when the period running now ends"
        in invoice
    )


def test_a_pending_renewals_pay_box_says_when_its_period_starts(browser, user, plan, test_mode):
    """Monthly runs to 2 Apr 2026 and the customer has checked it out again on 22 Mar: the
    Pay box said only where to pay, though the period paid for starts on 2 Apr, not now."""
    with time_machine.travel(START, tick=False):
        capture(checkout(user, plan=plan).invoice)
    with time_machine.travel(START + timedelta(days=20), tick=False):
        renewal = checkout(user, plan=plan).invoice
        page = browser.get(reverse("pages:invoice", args=[renewal.pk])).content.decode()

    assert 'id="pay"' in page
    assert (
        "Your Monthly plan runs until 2 Apr 2026, 09:00 UTC: the period you pay for here starts "
        "then, when the one running now ends, not at the payment."
    ) in page


def test_a_first_plans_pay_box_says_nothing_of_a_later_start(browser, user, plan, test_mode):
    with time_machine.travel(START, tick=False):
        invoice = checkout(user, plan=plan).invoice
        page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()

    assert 'id="pay"' in page
    assert 'id="plan-follows"' not in page


def test_once_the_renewal_runs_it_is_the_plan_shown(browser, renewed, test_mode):
    with time_machine.travel(START + timedelta(days=32), tick=False):
        home = browser.get(reverse("pages:home")).content.decode()
        account = browser.get(reverse("pages:account")).content.decode()
        invoice = browser.get(reverse("pages:invoice", args=[renewed.pk])).content.decode()

    assert "until 2 May 2026, 09:00 UTC</span>" in home
    assert "Current period</dt><dd>2 Apr 2026, 09:00 UTC to 2 May 2026, 09:00 UTC" in account
    assert "Next period" not in account
    assert "Monthly plan: active, 2 Apr 2026, 09:00 UTC to 2 May 2026, 09:00 UTC." in invoice


def test_the_receipt_of_a_renewal_says_when_its_period_starts(browser, renewed):
    """It said "Payment received: 40 tokens were added." and nothing of the plan, which the
    customer could take to have started at the payment."""
    with time_machine.travel(START + timedelta(days=20), tick=False):
        page = browser.get(reverse("pages:purchase-success"), {"invoice": renewed.pk})
        polled = browser.get(reverse("pages:purchase-status"), {"invoice": renewed.pk}).json()

    assert (
        "Your Monthly plan's new period starts on "
        '<time datetime="2026-04-02T09:00:00+00:00">2 Apr 2026, 09:00 UTC</time>, '
        "when the one running now ends."
    ) in page.content.decode()
    assert polled["plan_starts_at"] == "2026-04-02T09:00:00Z"
    assert polled["plan_name"] == "Monthly"


def test_the_receipt_of_a_first_plan_says_nothing_of_a_later_start(browser, user, plan):
    with time_machine.travel(START, tick=False):
        invoice = checkout(user, plan=plan).invoice
        capture(invoice)
        page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk})
        polled = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()

    assert "new period starts" not in page.content.decode()
    assert polled["plan_starts_at"] is None


def test_a_renewal_of_another_plan_is_not_shown_as_the_current_plans_next_period(
    browser, user, renewed, test_mode
):
    """Another plan bought while Monthly runs and its renewal waits starts at its payment and
    is the plan shown: Monthly's renewal is not its next period, and paying it again adds a
    period after its own end. The pages named Monthly's renewal as Team's."""
    other = PlanFactory(name="Team", price=Decimal("99.00"))
    with time_machine.travel(START + timedelta(days=21), tick=False):
        capture(checkout(user, plan=other).invoice, reference="team")
        home, account, purchase = (
            browser.get(url).content.decode()
            for url in (reverse("pages:home"), reverse("pages:account"), reverse("pages:purchase"))
        )

    assert "until 23 Apr 2026, 09:00 UTC</span>" in home
    assert "Next period" not in account
    assert "active until 23 Apr 2026, 09:00 UTC." in purchase
    assert "Paying Team again adds a period after this one" in purchase


# A plan whose use costs no tokens.


def _unlimited_said(page: str) -> list[str]:
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    return re.findall(r"Unlimited use[^.]*\.", text)


@pytest.mark.parametrize("name", ["home", "account"])
def test_an_unlimited_plan_says_use_costs_no_tokens_while_it_runs(browser, user, name):
    """On an unlimited plan with no tokens the pages said "Balance 0", "Available now 0" and
    the plan's name and end: nothing said that use costs no tokens, so the customer read
    they could not use the service, or bought tokens they did not need."""
    plan = PlanFactory(name="All you can use", usage_mode="unlimited")
    with time_machine.travel(START, tick=False):
        capture(checkout(user, plan=plan).invoice)
        page = browser.get(reverse(f"pages:{name}")).content.decode()

    assert _unlimited_said(page) == [
        "Unlimited use until 2 Apr 2026, 09:00 UTC: what you use costs no tokens."
    ]


@pytest.mark.parametrize("name", ["home", "account"])
def test_a_metered_or_unpaid_plan_says_nothing_of_unlimited_use(browser, user, plan, name):
    unpaid = PlanFactory(name="All you can use", usage_mode="unlimited")
    capture(checkout(user, plan=plan).invoice)
    page = browser.get(reverse(f"pages:{name}")).content.decode()
    assert _unlimited_said(page) == []
    checkout(user, plan=unpaid, key="unpaid")
    page = browser.get(reverse(f"pages:{name}")).content.decode()
    assert _unlimited_said(page) == []
