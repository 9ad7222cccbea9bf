"""A checkout of add-ons bought alone relies on the user's plan S1. The user renews (S2,
paid, active). When S1's period ends, the add-ons still have a plan: the checkout is kept and
relies on S2, whether the sweep records S1 expired first or the payment comes first. Only
with no plan running is it cancelled (the sweep) or refused (a payment)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from dateutil.relativedelta import relativedelta

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import AddOnSubscription, Invoice, Subscription
from billing.services.reconcile.local import subscriptions_expire
from billing.services.reconcile.report import ReconcileReport
from billing.tests.helpers import capture, checkout, deliver, payment_body
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.errors import InvalidState
from common.tests.concurrency import meeting

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def renewed(user) -> tuple[Invoice, Subscription, Subscription]:
    """S1 paid at START; add-ons checked out alone on day 10; S1's plan paid again on day 20.
    Returns the add-ons' pending invoice, S1 and S2."""
    plan = PlanFactory()
    with time_machine.travel(START, tick=False) as clock:
        first = checkout(user, plan=plan).invoice
        capture(first, reference="plan-1")
        clock.move_to(START + timedelta(days=10))
        add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
        clock.move_to(START + timedelta(days=20))
        second = checkout(user, plan=plan).invoice
        capture(second, reference="plan-2")
    return (
        add_ons,
        Subscription.objects.get(invoice=first),
        Subscription.objects.get(invoice=second),
    )


def sweep() -> ReconcileReport:
    report = ReconcileReport(dry_run=False)
    subscriptions_expire(report)
    return report


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_sweep_of_the_old_plan_keeps_the_add_on_checkout_on_the_plan_that_runs(user):
    add_ons, first, second = renewed(user)

    with time_machine.travel(first.expires_at, tick=False):
        report = sweep()
        kept = Invoice.objects.get(pk=add_ons.pk).status
        paid = capture(add_ons, reference="add-ons")

    assert (report.subscriptions_expired, report.failed) == (1, [])
    assert kept == "pending"
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("active", second.pk)
    # The add-on's own period runs from its payment, whichever plan it relies on.
    assert (add_on.starts_at, add_on.expires_at) == (
        first.expires_at,
        first.expires_at + relativedelta(months=1),
    )
    assert paid.addons_activated == 1


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_payment_between_the_old_plans_end_and_the_sweep_activates_on_the_plan_that_runs(
    api_client, user
):
    add_ons, first, second = renewed(user)

    with time_machine.travel(first.expires_at, tick=False):
        response = deliver(api_client, payment_body(add_ons))

    assert (response.status_code, response.json().get("addons_activated")) == (200, 1)
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("active", second.pk)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_stripe_payment_can_be_started_after_the_old_plans_end(user, fake_stripe):
    add_ons, first, _second = renewed(user)

    with time_machine.travel(first.expires_at, tick=False):
        started = services.invoice_pay_with_stripe(invoice_id=add_ons.pk, user_id=user.pk)

    assert fake_stripe.sessions[started.session_id]["status"] == "open"


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_add_ons_show_under_the_plan_that_runs(user, user_client):
    add_ons, first, second = renewed(user)

    with time_machine.travel(first.expires_at, tick=False):
        sweep()
        capture(add_ons, reference="add-ons")
        shown = user_client.get("/api/v1/user/subscription").json()

    assert shown["id"] == str(second.pk)
    assert [a["subscription_id"] for a in shown["add_ons"]] == [str(second.pk)]


@pytest.mark.sqlite
@pytest.mark.django_db
def test_with_no_plan_running_the_sweep_still_cancels_and_a_payment_is_refused(api_client, user):
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan, reference="plan-1")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    ended = Subscription.objects.get(invoice=plan).expires_at

    with time_machine.travel(ended, tick=False):
        refused = deliver(api_client, payment_body(add_ons))
        sweep()

    assert (refused.status_code, refused.json().get("code")) == (409, "invalid_state")
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_to_lock", ["refund", "sweep"])
def test_the_sweep_racing_a_refund_of_the_plan_that_runs_leaves_no_checkout_on_it(
    first_to_lock,
):
    """The sweep of S1 re-points the checkout to S2 while S2's invoice is refunded. Without
    S2 held FOR SHARE, the sweep read S2 as active beside an uncommitted refund (or the
    refund looked for checkouts relying on S2 beside an uncommitted re-point), and the
    checkout was left pending on a cancelled plan: payable, and refused each time."""
    user = UserFactory()
    add_ons, first, second = renewed(user)

    with time_machine.travel(first.expires_at, tick=False):
        refund = lambda: services.invoice_refund(invoice_id=second.invoice_id)  # noqa: E731
        held, waiting = (refund, sweep) if first_to_lock == "refund" else (sweep, refund)
        answers = meeting(held, waiting)

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert list(
        AddOnSubscription.objects.filter(invoice=add_ons).values_list("status", flat=True)
    ) == ["cancelled"]
    assert Subscription.objects.get(pk=second.pk).status == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_a_payment_after_the_old_plans_end_waits_for_a_refund_of_the_plan_that_runs():
    """S2's refund has not committed when the add-ons' payment comes (S1 ended, not swept):
    read without a lock, S2 looked active and the add-ons were activated on a refunded plan.
    Now the capture waits, finds no plan running, and refuses; nothing is activated."""
    user = UserFactory()
    add_ons, first, second = renewed(user)

    with time_machine.travel(first.expires_at, tick=False):
        answers = meeting(
            lambda: services.invoice_refund(invoice_id=second.invoice_id),
            lambda: capture(add_ons, reference="add-ons"),
        )

    assert isinstance(answers["held"], services.RefundResult), answers
    assert isinstance(answers["waiting"], InvalidState), answers
    assert "has ended" in str(answers["waiting"])
    assert Invoice.objects.get(pk=add_ons.pk).status == "pending"
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("pending", first.pk)


@pytest.mark.django_db
def test_the_stripe_session_of_such_a_checkout_is_not_cut_at_the_old_plans_end(user, fake_stripe):
    """Its session was made to end with S1 (so that no payment the capture refuses is
    taken), though the checkout moves to S2 then and its payment is accepted: the
    customer's tab closed on them mid-payment. With a plan running past S1, Stripe's end."""
    add_ons, first, _second = renewed(user)
    opened = first.expires_at - timedelta(hours=3)

    with time_machine.travel(opened, tick=False):
        started = services.invoice_pay_with_stripe(invoice_id=add_ons.pk, user_id=user.pk)

    assert fake_stripe.sessions[started.session_id]["expires_at"] == int(
        (opened + timedelta(hours=24)).timestamp()
    )
