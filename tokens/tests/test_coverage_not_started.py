"""An unlimited period paid for ahead covers usage from its start, not from its payment.

A plan staff turned from metered to unlimited mid-period, paid again early by a customer on
the metered period: the renewal starts where the metered period ends (billing's early
renewal), and its coverage with it. Until then the customer's usage costs tokens, as the
period they are in was sold."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing import services as billing_services
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from conftest import client_for
from tokens.models import UnlimitedCoverage
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USAGE = "/api/v1/user/usage"
HOLDS = "/api/v1/user/holds"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def renewal_ahead(user, clock):
    """A metered period from START, then the same plan, now unlimited, paid on day 10: its
    coverage starts when the metered period ends. Returns that instant."""
    plan = PlanFactory(usage_mode="metered")
    capture(checkout(user, plan=plan).invoice, reference="metered")
    plan.usage_mode = "unlimited"
    plan.save()
    clock.move_to(START + timedelta(days=10))
    renewal = checkout(user, plan=plan)
    capture(renewal.invoice, reference="unlimited")
    fund(user, 10)
    coverage = UnlimitedCoverage.objects.get(subscription_id=renewal.subscription.pk)
    assert coverage.starts_at > START + timedelta(days=10)
    return coverage.starts_at


def test_usage_before_the_unlimited_period_starts_costs_tokens(user, clock, renewal_ahead):
    before = client_for(user).post(USAGE, {"amount": 4}, HTTP_IDEMPOTENCY_KEY="a")
    clock.move_to(renewal_ahead)
    after = client_for(user).post(USAGE, {"amount": 4}, HTTP_IDEMPOTENCY_KEY="b")

    assert before.status_code == 201, before.json()
    assert (before.json()["usage"]["source"], before.json()["usage"]["charged"]) == ("tokens", 4)
    assert before.json()["balance"] == {"balance": 6, "available": 6}
    assert (after.json()["usage"]["source"], after.json()["usage"]["charged"]) == (
        "subscription",
        0,
    )


def test_a_hold_before_the_unlimited_period_starts_reserves_tokens(user, renewal_ahead):
    too_much = client_for(user).post(HOLDS, {"amount": 50}, HTTP_IDEMPOTENCY_KEY="a")
    fits = client_for(user).post(HOLDS, {"amount": 4}, HTTP_IDEMPOTENCY_KEY="b")

    assert too_much.status_code == 402, too_much.json()
    assert too_much.json()["code"] == "insufficient_tokens"
    assert fits.status_code == 201, fits.json()
    assert fits.json()["hold"]["source"] == "tokens"
    assert fits.json()["balance"] == {"balance": 10, "available": 6}


def test_a_refund_leaves_no_hold_free_on_a_period_that_has_not_started(user, renewal_ahead):
    """Another unlimited plan's hold, that plan refunded: the renewal waiting to start covers
    nothing yet, so the hold is released as it is when no other plan runs."""
    other = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(other.invoice, reference="other")
    made = client_for(user).post(HOLDS, {"amount": 50}, HTTP_IDEMPOTENCY_KEY="h").json()["hold"]
    assert made["source"] == "subscription"

    billing_services.invoice_refund(invoice_id=other.invoice.pk)
    answer = client_for(user).post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 5}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert answer.status_code == 409, answer.json()
    assert answer.json()["code"] == "invalid_state"


def test_a_hold_is_kept_when_the_refund_moves_the_renewal_up_to_cover_it(user, clock):
    """The running unlimited period refunded, its renewal, paid, starts at the refund and
    covers from then on: a hold made under the refunded period is kept, as for any plan that
    runs, not released as if no plan covered the user."""
    plan = PlanFactory(usage_mode="unlimited")
    running = checkout(user, plan=plan)
    capture(running.invoice, reference="running")
    clock.move_to(START + timedelta(days=20))
    capture(checkout(user, plan=plan).invoice, reference="renewal")
    made = client_for(user).post(HOLDS, {"amount": 50}, HTTP_IDEMPOTENCY_KEY="h").json()["hold"]

    billing_services.invoice_refund(invoice_id=running.invoice.pk)
    answer = client_for(user).post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 5}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert answer.status_code == 200, answer.json()
    assert (answer.json()["usage"]["source"], answer.json()["usage"]["charged"]) == (
        "subscription",
        0,
    )
