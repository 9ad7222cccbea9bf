"""A refund of the period a renewal of the same plan waits to follow: the renewal, paid for,
starts at the refund instead, and an unlimited plan's coverage ends with its new period
(it no longer covers the refunded days before it)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from dateutil.relativedelta import relativedelta

from accounts.tests.factories import UserFactory
from billing.models import Subscription
from billing.services import invoice_refund
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.concurrency import meeting
from events.models import Event
from tokens.models import TokenAccount, UnlimitedCoverage

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MONTH = relativedelta(months=1)


def paid(user, plan, at: datetime, reference: str) -> Subscription:
    with time_machine.travel(at, tick=False):
        invoice = checkout(user, plan=plan).invoice
        capture(invoice, reference=reference)
    return Subscription.objects.get(invoice=invoice)


def refunded(subscription: Subscription, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        invoice_refund(invoice_id=subscription.invoice_id)


def period(subscription: Subscription) -> tuple[datetime, datetime]:
    subscription.refresh_from_db()
    return subscription.starts_at, subscription.expires_at


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_renewal_waiting_for_the_refunded_period_starts_at_the_refund(user):
    plan = PlanFactory(usage_mode="unlimited")
    first = paid(user, plan, START, "plan-1")
    second = paid(user, plan, START + timedelta(days=20), "plan-2")
    refund_at = START + timedelta(days=25)

    refunded(first, refund_at)

    assert period(second) == (refund_at, refund_at + MONTH)
    assert second.status == "active"
    coverage = UnlimitedCoverage.objects.get(subscription_id=second.pk)
    assert (coverage.starts_at, coverage.ends_at) == (refund_at, refund_at + MONTH)
    assert TokenAccount.objects.get(user=user).unlimited_until == refund_at + MONTH


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_sellers_systems_are_told_the_moved_renewals_new_dates(user):
    """`subscription.activated` announced the renewal from 2 Apr to 2 May: with nothing said
    of the move, the seller's systems saw no plan from the refund to 2 Apr and one still
    running from its `subscription.expired` to 2 May. It is announced again, with its dates."""
    plan = PlanFactory()
    first = paid(user, plan, START, "plan-1")
    second = paid(user, plan, START + timedelta(days=20), "plan-2")
    refund_at = START + timedelta(days=25)

    refunded(first, refund_at)

    announced = [
        (event.data["starts_at"], event.data["expires_at"])
        for event in Event.objects.filter(
            type="subscription.activated", data__subscription_id=str(second.pk)
        ).order_by("created_at")
    ]
    assert announced == [
        ("2026-04-02T09:00:00Z", "2026-05-02T09:00:00Z"),
        ("2026-03-27T09:00:00Z", "2026-04-27T09:00:00Z"),
    ]


@pytest.mark.sqlite
@pytest.mark.django_db
def test_renewals_waiting_one_after_another_follow_the_period_left(user):
    plan = PlanFactory(included_tokens=10)
    first = paid(user, plan, START, "plan-1")
    second = paid(user, plan, START + timedelta(days=20), "plan-2")
    third = paid(user, plan, START + timedelta(days=21), "plan-3")

    # The waiting second is refunded: the third follows the running first.
    refunded(second, START + timedelta(days=22))
    assert period(third) == (START + MONTH, START + 2 * MONTH)
    assert period(first) == (START, START + MONTH)

    # Then the running first: the third starts at that refund.
    refund_at = START + timedelta(days=23)
    refunded(first, refund_at)
    assert period(third) == (refund_at, refund_at + MONTH)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_refund_of_another_plan_or_of_an_ended_period_moves_nothing(user):
    plan = PlanFactory()
    first = paid(user, plan, START, "plan-1")
    second = paid(user, plan, START + timedelta(days=20), "plan-2")
    other = paid(user, PlanFactory(), START + timedelta(days=21), "other")

    refunded(other, START + timedelta(days=22))
    assert period(second) == (START + MONTH, START + 2 * MONTH)

    # The first has ended and the second runs: nothing waits any more.
    refunded(first, START + MONTH + timedelta(days=1))
    assert period(second) == (START + MONTH, START + 2 * MONTH)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refund_first", [True, False])
def test_a_refund_and_a_renewal_at_once_neither_deadlocks_nor_loses_a_period(refund_first):
    """The refund locks the plan's unended periods in id order, as a renewal's capture does:
    whichever goes second waits and then sees the other's result."""
    user = UserFactory()
    plan = PlanFactory(usage_mode="unlimited")
    first = paid(user, plan, START, "plan-1")
    second = paid(user, plan, START + timedelta(days=20), "plan-2")
    at = START + timedelta(days=25)
    with time_machine.travel(at, tick=False):
        third = checkout(user, plan=plan).invoice
        refund = lambda: invoice_refund(invoice_id=first.invoice_id)  # noqa: E731
        renewal = lambda: capture(third, reference="plan-3")  # noqa: E731
        answers = meeting(refund, renewal) if refund_first else meeting(renewal, refund)

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    last = Subscription.objects.get(invoice=third)
    assert period(second) == (at, at + MONTH)
    assert period(last) == (at + MONTH, at + 2 * MONTH)
    assert TokenAccount.objects.get(user=user).unlimited_until == at + 2 * MONTH
