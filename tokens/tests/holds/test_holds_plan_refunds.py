"""Holds: reserve, capture in steps, release, expire exactly at `expires_at`."""

from datetime import timedelta

import pytest

from billing import services as billing_services
from billing.services.reconcile import ReconcileReport, subscriptions_expire
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.helpers import database_state
from tokens.models import Hold, UnlimitedCoverage
from tokens.tests.factories import fund
from tokens.tests.holds.helpers import HOLDS, NOW, available, hold

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_plans_refund_releases_the_holds_it_covered(user_client, user, clock):
    """The money went back: a hold made under the plan no longer captures work for free."""
    order = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(order.invoice)
    fund(user, 5)
    made = hold(user_client, {"amount": 100}).json()["hold"]
    clock.shift(timedelta(minutes=1))

    billing_services.invoice_refund(invoice_id=order.invoice.pk)
    before = database_state()
    answer = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert (answer.status_code, answer.json()["code"]) == (409, "invalid_state")
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before
    released = Hold.objects.get(pk=made["id"])
    assert (released.status, released.resolved_at) == ("released", NOW + timedelta(minutes=1))
    assert available(user) == 5


def test_a_plans_refund_keeps_the_holds_another_running_plan_covers(user_client, user):
    refunded = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(refunded.invoice)
    made = hold(user_client, {"amount": 100}).json()["hold"]
    capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice, reference="pay-2")

    billing_services.invoice_refund(invoice_id=refunded.invoice.pk)
    captured = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert captured.status_code == 200
    assert (captured.json()["usage"]["source"], captured.json()["usage"]["charged"]) == (
        "subscription",
        0,
    )


def test_a_plans_refund_keeps_a_hold_made_under_an_earlier_plan_whose_period_ended(
    user_client, user, clock
):
    """The earlier period was paid for: its hold keeps its coverage after that period ends,
    whatever becomes of a later plan."""
    capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)
    period_end = UnlimitedCoverage.objects.get().ends_at
    clock.move_to(period_end - timedelta(minutes=1))
    made = hold(user_client, {"amount": 100, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(period_end + timedelta(minutes=1))
    later = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(later.invoice, reference="pay-2")
    under_the_later_plan = hold(user_client, {"amount": 100}, key="h2").json()["hold"]

    billing_services.invoice_refund(invoice_id=later.invoice.pk)
    captured = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert captured.status_code == 200
    assert (captured.json()["usage"]["source"], captured.json()["usage"]["charged"]) == (
        "subscription",
        0,
    )
    assert Hold.objects.get(pk=under_the_later_plan["id"]).status == "released"


def test_a_plans_refund_after_its_expiry_was_recorded_releases_the_holds_it_covered(
    user_client, user, clock
):
    """The reconcile sweep marking the subscription expired changes nothing about its refund:
    the money of that period went back, so a hold made under it no longer captures for free,
    as when the refund comes before the sweep."""
    order = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(order.invoice)
    fund(user, 5)
    period_end = UnlimitedCoverage.objects.get().ends_at
    clock.move_to(period_end - timedelta(minutes=1))
    made = hold(user_client, {"amount": 100, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(period_end + timedelta(minutes=1))
    subscriptions_expire(ReconcileReport(dry_run=False))

    billing_services.invoice_refund(invoice_id=order.invoice.pk)
    answer = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert (answer.status_code, answer.json().get("code")) == (409, "invalid_state")
    assert Hold.objects.get(pk=made["id"]).status == "released"
    assert UnlimitedCoverage.objects.get().revoked_at == period_end + timedelta(minutes=1)


def test_a_hold_kept_by_a_later_plan_is_released_when_that_plan_is_refunded_too(
    user_client, user, clock
):
    """A plan's refund keeps a hold made under it while another unlimited plan covers the
    user; once that plan's money goes back as well, no paid period covers the hold."""
    first = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(first.invoice)
    fund(user, 5)
    made = hold(user_client, {"amount": 100}).json()["hold"]
    clock.shift(timedelta(minutes=1))
    second = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(second.invoice, reference="pay-2")
    billing_services.invoice_refund(invoice_id=first.invoice.pk)
    kept = Hold.objects.get(pk=made["id"]).status
    clock.shift(timedelta(minutes=1))

    billing_services.invoice_refund(invoice_id=second.invoice.pk)
    answer = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert kept == "active"
    assert (answer.status_code, answer.json().get("code")) == (409, "invalid_state")
    released = Hold.objects.get(pk=made["id"])
    assert (released.status, released.resolved_at) == ("released", NOW + timedelta(minutes=2))
    assert available(user) == 5
