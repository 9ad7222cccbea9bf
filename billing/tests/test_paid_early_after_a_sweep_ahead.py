"""A period the expiry's sweep has recorded expired, its machine's clock a little ahead
(the machines' clocks differ), still runs by the clock of a payment or a refund made on
another: it ends at its `expires_at`, not when a sweep wrote its status. A plan or an add-on
paid again early then starts where it ends, as when the sweep has not come yet; before, the
new period started at the payment, overlapping the rest of the one running, and the customer
lost that much of the period they paid for (and likewise a period moved up by a refund)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from dateutil.relativedelta import relativedelta

from billing.models import AddOnSubscription, Subscription
from billing.services import invoice_refund
from billing.services.reconcile import local
from billing.tests.helpers import capture, checkout, monthly_paid
from catalog.tests.factories import AddOnFactory, PlanFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MONTH = relativedelta(months=1)
SKEW = timedelta(seconds=30)


def swept_ahead(row) -> None:
    """The sweep runs with its clock SKEW past `row`'s end."""
    with time_machine.travel(row.expires_at + SKEW, tick=False):
        assert local.ended_subscriptions_expire() >= 1
    row.refresh_from_db()
    assert row.status == "expired"


def period(row) -> tuple:
    row.refresh_from_db()
    return row.status, row.starts_at, row.expires_at


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_plan_paid_again_early_follows_a_period_the_sweep_expired_early(user):
    plan = PlanFactory()
    first = monthly_paid(user, START, "first", Subscription, plan=plan)
    swept_ahead(first)

    second = monthly_paid(user, first.expires_at - SKEW, "second", Subscription, plan=plan)

    assert period(second) == ("active", first.expires_at, first.expires_at + MONTH)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_an_add_on_paid_again_early_follows_a_period_the_sweep_expired_early(user):
    add_on = AddOnFactory()
    with time_machine.travel(START, tick=False):
        capture(checkout(user, plan=PlanFactory(billing_period="yearly")).invoice, reference="p")
    first = monthly_paid(user, START, "first", AddOnSubscription, add_ons=[add_on])
    swept_ahead(first)

    second = monthly_paid(
        user, first.expires_at - SKEW, "second", AddOnSubscription, add_ons=[add_on]
    )

    assert period(second) == ("active", first.expires_at, first.expires_at + MONTH)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_refunded_renewal_moves_the_next_to_the_end_of_a_period_the_sweep_expired(user):
    plan = PlanFactory()
    first = monthly_paid(user, START, "first", Subscription, plan=plan)
    second = monthly_paid(user, START + timedelta(days=20), "second", Subscription, plan=plan)
    third = monthly_paid(user, START + timedelta(days=21), "third", Subscription, plan=plan)
    swept_ahead(first)

    with time_machine.travel(first.expires_at - SKEW, tick=False):
        invoice_refund(invoice_id=second.invoice_id)

    assert period(second)[0] == "cancelled"
    assert period(third) == ("active", first.expires_at, first.expires_at + MONTH)
