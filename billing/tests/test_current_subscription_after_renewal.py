"""While a renewal paid early waits to start, the current subscription is the period that runs
now (GET /user/subscription and the account page alike), with the add-ons in use: those of
the running period and those bought since, which attach to the renewal."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from billing.models import Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def paid(user, at: datetime, reference: str, **bought) -> Subscription | None:
    with time_machine.travel(at, tick=False):
        invoice = checkout(user, **bought).invoice
        capture(invoice, reference=reference)
    return Subscription.objects.filter(invoice=invoice).first()


@pytest.fixture
def renewed(user):
    plan = PlanFactory(name="Monthly")
    first = paid(user, START, "plan-1", plan=plan, add_ons=[AddOnFactory(name="Before")])
    second = paid(user, START + timedelta(days=20), "plan-2", plan=plan)
    paid(user, START + timedelta(days=21), "add-on", add_ons=[AddOnFactory(name="After")])
    return first, second


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_current_subscription_is_the_running_period_with_the_add_ons_in_use(
    renewed, user_client, django_assert_max_num_queries
):
    first, second = renewed

    with (
        time_machine.travel(START + timedelta(days=22), tick=False),
        django_assert_max_num_queries(8),
    ):
        shown = user_client.get("/api/v1/user/subscription").json()

    assert (shown["id"], shown["starts_at"]) == (str(first.pk), "2026-03-02T09:00:00Z")
    assert [(a["name"], a["subscription_id"]) for a in shown["add_ons"]] == [
        ("Before", str(first.pk)),
        ("After", str(second.pk)),
    ]


@pytest.mark.sqlite
@pytest.mark.django_db
def test_once_the_renewal_runs_it_is_current(renewed, user_client):
    first, second = renewed

    with time_machine.travel(first.expires_at, tick=False):
        shown = user_client.get("/api/v1/user/subscription").json()

    assert shown["id"] == str(second.pk)
    assert [a["name"] for a in shown["add_ons"]] == ["After"]


@pytest.mark.sqlite
@pytest.mark.django_db
@pytest.mark.usefixtures("renewed")
def test_the_account_page_shows_the_running_period(client, user):
    client.force_login(user)

    with time_machine.travel(START + timedelta(days=22), tick=False):
        page = client.get(reverse("pages:account")).content.decode()

    assert "Current period</dt><dd>2 Mar 2026, 09:00 UTC to 2 Apr 2026, 09:00 UTC" in page
    assert "Before (active)" in page
    assert "After (active)" in page


@pytest.mark.sqlite
@pytest.mark.django_db
def test_an_add_on_running_past_the_period_it_was_bought_in_is_shown_until_its_end(
    user, user_client
):
    plan = PlanFactory(name="Monthly")
    first = paid(user, START, "plan-1", plan=plan)
    paid(user, START + timedelta(days=15), "add-on", add_ons=[AddOnFactory(name="Mid")])
    second = paid(user, START + timedelta(days=20), "plan-2", plan=plan)
    (add_on,) = first.add_ons.all()

    with time_machine.travel(first.expires_at + timedelta(days=1), tick=False):
        while_it_runs = user_client.get("/api/v1/user/subscription").json()
    with time_machine.travel(add_on.expires_at, tick=False):
        once_it_ended = user_client.get("/api/v1/user/subscription").json()

    assert while_it_runs["id"] == once_it_ended["id"] == str(second.pk)
    assert [(a["name"], a["status"], a["subscription_id"]) for a in while_it_runs["add_ons"]] == [
        ("Mid", "active", str(first.pk))
    ]
    assert once_it_ended["add_ons"] == []
