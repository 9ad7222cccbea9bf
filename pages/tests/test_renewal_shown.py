"""A plan paid again while its period runs starts where that period ends: the pages say so,
and do not call the renewal's period, which has not begun, the current one."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from billing.models import Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_while_a_renewal_waits_the_current_period_is_the_running_one(browser, user):
    plan = PlanFactory(name="Monthly")
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False):
        capture(checkout(user, plan=plan).invoice, "plan-1")
    capture(checkout(user, plan=plan).invoice, "plan-2")
    running, renewal = Subscription.objects.filter(user=user).order_by("starts_at")

    page = browser.get(reverse("pages:account")).content.decode()

    def period(subscription):
        return f"{subscription.starts_at:%-d %b %Y} to {subscription.expires_at:%-d %b %Y}"

    assert renewal.starts_at == running.expires_at
    assert f"<dt>Current period</dt><dd>{period(running)}</dd>" in page
    assert f"<dt>Current period</dt><dd>{period(renewal)}</dd>" not in page


def test_the_purchase_page_says_the_same_plan_paid_again_follows_on(browser, user):
    capture(checkout(user, plan=PlanFactory(name="Monthly")).invoice)

    page = browser.get(reverse("pages:purchase")).content.decode()

    assert "A new plan starts when it is paid." not in page
    assert "Paying Monthly again adds a period after this one" in page
