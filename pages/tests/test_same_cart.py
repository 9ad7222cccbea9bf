"""Buy with a new submission (a second tab, a page drawn anew without its script) for the cart
already waiting to be paid goes to pay that invoice instead of making a second one for the
same cart; within limits: a pending one made on the pages in the last hour, at today's
prices."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import AddOnSubscription, Invoice, Subscription, TokenBundlePurchase
from billing.tests.helpers import capture, checkout
from catalog.models import Plan, TokenBundle, UsageMode
from catalog.services import catalog_item_update
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.concurrency import meeting, run_together
from pages.services import purchase_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def buy(client, bundles):
    return client.post(
        reverse("pages:purchase"),
        {"bundles": [str(b.pk) for b in bundles], "submission": str(uuid.uuid4())},
    )


def test_buy_again_for_the_same_cart_pays_the_waiting_invoice(
    browser, user, bundles, fake_stripe, django_assert_max_num_queries
):
    first = buy(browser, [bundles[0], bundles[1], bundles[0]])
    with django_assert_max_num_queries(18):
        second = buy(browser, [bundles[1], bundles[0], bundles[0]])

    assert (first.status_code, second.status_code) == (302, 302)
    assert second["Location"] == first["Location"]
    assert Invoice.objects.filter(user=user).count() == 1
    assert len(fake_stripe.sessions) == 1


def test_another_cart_or_a_paid_one_is_a_new_purchase(browser, user, bundles, fake_stripe):
    buy(browser, bundles[:1])
    buy(browser, [bundles[0], bundles[0]])
    capture(Invoice.objects.get(user=user, total=Decimal("10.00")))
    buy(browser, bundles[:1])

    statuses = sorted(Invoice.objects.filter(user=user).values_list("total", "status"))
    assert statuses == [
        (Decimal("10.00"), "paid"),
        (Decimal("10.00"), "pending"),
        (Decimal("20.00"), "pending"),
    ]


def test_a_waiting_invoice_at_an_old_price_or_an_hour_old_is_not_reused(
    browser, user, bundles, fake_stripe, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    buy(browser, bundles[:1])
    bundles[0].price = Decimal("12.00")
    bundles[0].save()
    buy(browser, bundles[:1])
    time_machine.shift(timedelta(hours=1, seconds=1))
    buy(browser, bundles[:1])

    totals = list(Invoice.objects.filter(user=user).order_by("number").values_list("total"))
    assert totals == [(Decimal("10.00"),), (Decimal("12.00"),), (Decimal("12.00"),)]


@pytest.mark.parametrize(
    ("change", "bought"),
    [
        ({"token_amount": 20}, ("Taster", 20, None)),
        ({"expires_after_days": 30}, ("Taster", 10, 30)),
        ({"name": "Taster pack"}, ("Taster pack", 10, None)),
    ],
)
def test_a_waiting_invoice_for_a_bundle_staff_changed_since_at_the_same_price_is_not_reused(
    browser, user, bundles, fake_stripe, change, bought
):
    """Staff gave a bundle 20 tokens instead of 10 at the same price while an invoice for it
    waited: Buy on the page showing 20 paid that invoice, and 10 tokens came."""
    buy(browser, bundles[:1])
    catalog_item_update(model=TokenBundle, item_id=bundles[0].pk, data=change)
    buy(browser, bundles[:1])

    purchases = TokenBundlePurchase.objects.filter(user=user).order_by("created_at")
    assert list(purchases.values_list("name", "tokens", "tokens_expire_after_days")) == [
        ("Taster", 10, None),
        bought,
    ]


def test_a_waiting_invoice_for_a_plan_staff_changed_since_at_the_same_price_is_not_reused(
    browser, user, fake_stripe
):
    """A plan made unlimited with 100 tokens a month, at the same price: Buy paid the invoice
    waiting for the metered plan without tokens."""
    plan = PlanFactory(name="Monthly")

    def buy_the_plan():
        data = {"plan": str(plan.pk), "submission": str(uuid.uuid4())}
        return browser.post(reverse("pages:purchase"), data)

    buy_the_plan()
    change = {"included_tokens": 100, "usage_mode": UsageMode.UNLIMITED}
    catalog_item_update(model=Plan, item_id=plan.pk, data=change)
    buy_the_plan()

    subscriptions = Subscription.objects.filter(user=user).order_by("created_at")
    assert list(subscriptions.values_list("included_tokens", "usage_mode")) == [
        (0, UsageMode.METERED),
        (100, UsageMode.UNLIMITED),
    ]


def test_an_invoice_made_through_the_api_is_not_reused(browser, user, bundles, fake_stripe):
    checkout(user, bundles=bundles[:1])

    buy(browser, bundles[:1])

    assert Invoice.objects.filter(user=user).count() == 2


def test_add_ons_alone_wait_on_the_plan_they_were_bought_for(browser, user, fake_stripe):
    add_on = AddOnFactory(name="Priority support")
    capture(checkout(user, plan=PlanFactory(name="Monthly")).invoice)

    def buy_the_add_on():
        data = {"add_ons": [str(add_on.pk)], "submission": str(uuid.uuid4())}
        return browser.post(reverse("pages:purchase"), data)

    first, again = buy_the_add_on(), buy_the_add_on()
    capture(checkout(user, plan=PlanFactory(name="Yearly")).invoice, "pay-2")
    on_the_new_plan = buy_the_add_on()

    assert again["Location"] == first["Location"] != on_the_new_plan["Location"]
    parents = AddOnSubscription.objects.filter(user=user).order_by("created_at")
    assert [row.subscription.plan_name for row in parents] == ["Monthly", "Yearly"]


@pytest.mark.through_pgbouncer
@pytest.mark.django_db(transaction=True)
def test_two_buys_of_the_same_cart_at_once_are_one_invoice(user, bundles, settings):
    """Two tabs' Buy in the same instant: the second waits for the first's checkout to commit
    and pays its invoice (PostgreSQL, a connection each)."""
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True

    def buy_directly():
        return purchase_start(user_id=user.pk, bundle_ids=[bundles[0].pk], submission=uuid.uuid4())

    answers = meeting(buy_directly, buy_directly)

    assert answers["held"] == answers["waiting"]
    assert Invoice.objects.filter(user=user).count() == 1


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_six_buys_of_the_same_cart_at_once_are_one_invoice_on_either_database(
    user, bundles, settings
):
    """Six tabs' Buy released together, a connection each: on PostgreSQL they take turns by
    the advisory lock, on SQLite by the write lock each transaction takes at BEGIN."""
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True

    def buy():
        return purchase_start(user_id=user.pk, bundle_ids=[bundles[0].pk], submission=uuid.uuid4())

    answers = run_together([buy] * 6, workers=6)

    assert [type(answer) for answer in answers] == [str] * 6
    assert len(set(answers)) == 1
    assert Invoice.objects.filter(user=user).count() == 1
