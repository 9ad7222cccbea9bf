"""Paying a plan again while a subscription of that plan still runs: the new period starts
where the running one ends, so the rest of the period already paid for is not lost. Its
included tokens expire with its own period, its unlimited coverage runs on."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from dateutil.relativedelta import relativedelta

from accounts.tests.factories import UserFactory
from billing.models import Subscription
from billing.services import fulfilment
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.concurrency import meeting, paused_first
from events.models import Event
from tokens.models import TokenAccount, TokenLot, UnlimitedCoverage

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def paid(user, plan, at: datetime, reference: str) -> Subscription:
    with time_machine.travel(at, tick=False):
        invoice = checkout(user, plan=plan).invoice
        capture(invoice, reference=reference)
    return Subscription.objects.get(invoice=invoice)


def period(subscription: Subscription) -> tuple[datetime, datetime]:
    return subscription.starts_at, subscription.expires_at


@pytest.mark.sqlite
@pytest.mark.django_db
def test_paying_the_same_plan_again_early_starts_the_new_period_where_the_old_ends(user):
    plan = PlanFactory(included_tokens=100)
    first = paid(user, plan, START, "plan-1")
    second = paid(user, plan, START + timedelta(days=20), "plan-2")
    third = paid(user, plan, START + timedelta(days=21), "plan-3")

    ends = START + relativedelta(months=1)
    assert period(first) == (START, ends)
    assert period(second) == (ends, ends + relativedelta(months=1))
    assert period(third) == (ends + relativedelta(months=1), ends + relativedelta(months=2))
    assert [s.status for s in (first, second, third)] == ["active"] * 3
    included = TokenLot.objects.filter(account__user=user, category="included")
    assert sorted(included.values_list("expires_at", flat=True)) == [
        first.expires_at,
        second.expires_at,
        third.expires_at,
    ]
    activated = Event.objects.filter(type="subscription.activated").order_by("created_at")
    assert [e.data["starts_at"] for e in activated][1] == "2026-04-02T09:00:00Z"


@pytest.mark.sqlite
@pytest.mark.django_db
def test_another_plan_or_a_plan_that_has_ended_starts_at_the_payment(user):
    plan = PlanFactory()
    first = paid(user, plan, START, "plan-1")
    other = paid(user, PlanFactory(), START + timedelta(days=3), "other")
    # Ended, the sweep not yet run: nothing is left to keep.
    after_end = first.expires_at + timedelta(hours=1)
    again = paid(user, plan, after_end, "plan-2")

    assert other.starts_at == START + timedelta(days=3)
    assert again.starts_at == after_end


@pytest.mark.sqlite
@pytest.mark.django_db
def test_an_unlimited_plans_renewal_covers_on_from_where_the_old_period_ends(user):
    plan = PlanFactory(usage_mode="unlimited")
    first = paid(user, plan, START, "plan-1")
    second = paid(user, plan, START + timedelta(days=20), "plan-2")

    coverage = UnlimitedCoverage.objects.get(subscription_id=second.pk)
    assert (coverage.starts_at, coverage.ends_at) == (first.expires_at, second.expires_at)
    assert TokenAccount.objects.get(user=user).unlimited_until == second.expires_at


@pytest.mark.django_db(transaction=True)
def test_two_renewals_paid_at_once_follow_each_other():
    """Each capture read the running period's end before the other committed, and both
    periods started there: one of them was lost again. The renewal locks the running
    subscription, so the second waits and starts where the first one's period ends."""
    user = UserFactory()
    plan = PlanFactory()
    first = paid(user, plan, START, "plan-1")
    with time_machine.travel(START + timedelta(days=20), tick=False):
        a = checkout(user, plan=plan).invoice
        b = checkout(user, plan=plan).invoice
        answers = meeting(lambda: capture(a, reference="a"), lambda: capture(b, reference="b"))

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    ends = first.expires_at
    assert period(Subscription.objects.get(invoice=a)) == (ends, ends + relativedelta(months=1))
    assert period(Subscription.objects.get(invoice=b)) == (
        ends + relativedelta(months=1),
        ends + relativedelta(months=2),
    )


@pytest.mark.django_db(transaction=True)
def test_the_same_plan_paid_twice_at_once_with_none_running_gives_two_periods(monkeypatch):
    """With no period of the plan running, a capture locked nothing: a second one at once
    read no running period either, and both periods started at the payment, one of them
    lost. The second now waits for the first and follows it, as when one runs."""
    user = UserFactory()
    plan = PlanFactory()
    held, go = threading.Event(), threading.Event()
    ends = fulfilment.running_ends

    def first_holds(*args, **kwargs):
        found = ends(*args, **kwargs)
        if threading.current_thread().name == "a":
            held.set()
            go.wait(10)
        return found

    monkeypatch.setattr(fulfilment, "running_ends", first_holds)

    with time_machine.travel(START, tick=False):
        a = checkout(user, plan=plan).invoice
        b = checkout(user, plan=plan).invoice
        answers = paused_first(
            ("a", lambda: capture(a, reference="a")),
            ("b", lambda: capture(b, reference="b")),
            held=held,
            go=go,
        )

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    month = relativedelta(months=1)
    periods = sorted(period(Subscription.objects.get(invoice=i)) for i in (a, b))
    assert periods == [(START, START + month), (START + month, START + 2 * month)]
