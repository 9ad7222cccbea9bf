"""A plan paid again while its period runs starts where that period ends: the pages say so,
and do not call the renewal's period, which has not begun, the current one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

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
        start, end = subscription.starts_at, subscription.expires_at
        return f"{start:%-d %b %Y, %H:%M} UTC to {end:%-d %b %Y, %H:%M} UTC"

    assert renewal.starts_at == running.expires_at
    assert f"<dt>Current period</dt><dd>{period(running)}</dd>" in page
    assert f"<dt>Current period</dt><dd>{period(renewal)}</dd>" not in page


def test_the_purchase_page_says_the_same_plan_paid_again_follows_on(browser, user):
    capture(checkout(user, plan=PlanFactory(name="Monthly")).invoice)

    page = browser.get(reverse("pages:purchase")).content.decode()

    assert "A new plan starts when it is paid." not in page
    assert "Paying Monthly again adds a period after this one" in page


def test_a_plans_periods_are_said_with_their_hour_and_zone(browser, user, settings):
    """A period ends at a minute in UTC (09:00 here), and the pages said only the day ("until
    2 Apr 2026"): a customer west of UTC lost the plan the evening before the day shown."""
    settings.PAYMENTS_TEST_MODE = True
    plan = PlanFactory(name="Monthly")
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        capture(checkout(user, plan=plan).invoice, "plan-1")
    with time_machine.travel(datetime(2026, 3, 22, 9, 0, tzinfo=UTC), tick=False):
        renewal = checkout(user, plan=plan).invoice
        capture(renewal, "plan-2")
        urls = ["home", "account", "purchase"]
        pages = [browser.get(reverse(f"pages:{name}")).content.decode() for name in urls]
        pages.append(browser.get(reverse("pages:invoice", args=[renewal.pk])).content.decode())
        pages.append(
            browser.get(reverse("pages:purchase-success"), {"invoice": renewal.pk}).content.decode()
        )

    days = [
        re.findall(r"\b\d{1,2} (?:Mar|Apr|May) 2026(?:, \d\d:\d\d UTC)?", page) for page in pages
    ]
    assert [sorted(set(found)) for found in days] == [
        ["2 Apr 2026, 09:00 UTC"],
        ["2 Apr 2026, 09:00 UTC", "2 Mar 2026, 09:00 UTC", "2 May 2026, 09:00 UTC"],
        ["2 Apr 2026, 09:00 UTC", "2 May 2026, 09:00 UTC"],
        ["2 Apr 2026, 09:00 UTC", "2 May 2026, 09:00 UTC", "22 Mar 2026, 09:00 UTC"],
        ["2 Apr 2026, 09:00 UTC"],
    ]
