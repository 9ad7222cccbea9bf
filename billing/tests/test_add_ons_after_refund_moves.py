"""Add-ons bought alone that rely on a period which is refunded while a renewal of the same
plan waits to follow it: the renewal starts at the refund (renewals.py), and the add-ons,
still with a plan, rely on it from then on instead of being cancelled."""

from datetime import timedelta

import pytest
import time_machine

from billing.models import AddOnSubscription, Invoice, Subscription
from billing.services import invoice_refund
from billing.tests.add_ons_after_refund_helpers import REFUND_AT, START, renewed
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_pending_add_on_checkout_moves_onto_the_renewal_the_refund_starts(user, user_client):
    add_ons, first, second = renewed(user)

    with time_machine.travel(REFUND_AT, tick=False):
        invoice_refund(invoice_id=first.invoice_id)
        kept = Invoice.objects.get(pk=add_ons.pk).status
        paid = capture(add_ons, reference="add-ons")
        shown = user_client.get("/api/v1/user/subscription").json()

    assert kept == "pending"
    assert paid.addons_activated == 1
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("active", second.pk)
    assert shown["id"] == str(second.pk)
    assert [a["id"] for a in shown["add_ons"]] == [str(add_on.pk)]


@pytest.mark.sqlite
@pytest.mark.django_db
def test_paid_add_ons_move_onto_the_renewal_and_stay_shown(user, user_client, client):
    """Paid separately, they are no item of the refunded invoice: their money stays paid, so
    they stay active, and rely on the renewal the refund starts, where the customer sees
    them (on the refunded period, GET /user/subscription and the account page hid them)."""
    add_ons, first, second = renewed(user)
    with time_machine.travel(START + timedelta(days=21), tick=False):
        capture(add_ons, reference="add-ons")

    with time_machine.travel(REFUND_AT, tick=False):
        refund = invoice_refund(invoice_id=first.invoice_id)
        shown = user_client.get("/api/v1/user/subscription").json()
        client.force_login(user)
        page = client.get("/account")

    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("active", second.pk)
    assert refund.addons_cancelled == 0
    assert Invoice.objects.get(pk=add_ons.pk).status == "paid"
    assert shown["id"] == str(second.pk)
    assert [a["id"] for a in shown["add_ons"]] == [str(add_on.pk)]
    assert f"<dd>{add_on.name} (active)</dd>" in page.content.decode()


@pytest.mark.sqlite
@pytest.mark.django_db
def test_with_another_plan_running_the_checkout_moves_onto_it(user, user_client):
    """An upgrade (Team bought while Monthly runs) and then Monthly refunded: the customer
    still has a plan, and the add-ons checked out on Monthly rely on Team from then on, as
    the expiry's sweep moves them at Monthly's end. Cancelled, they were lost to the refund
    of a plan they no longer needed, and a payment under way was kept for a person."""
    with time_machine.travel(START, tick=False) as clock:
        monthly = checkout(user, plan=PlanFactory(name="Monthly")).invoice
        capture(monthly, reference="plan-1")
        add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
        clock.move_to(START + timedelta(days=5))
        team = checkout(user, plan=PlanFactory(name="Team")).invoice
        capture(team, reference="team")
        clock.move_to(START + timedelta(days=6))

        invoice_refund(invoice_id=monthly.pk)
        kept = Invoice.objects.get(pk=add_ons.pk).status
        paid = capture(add_ons, reference="add-ons")
        shown = user_client.get("/api/v1/user/subscription").json()

    assert kept == "pending"
    assert paid.addons_activated == 1
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    running = Subscription.objects.get(invoice=team)
    assert (add_on.status, add_on.subscription_id) == ("active", running.pk)
    assert (shown["plan_name"], [a["id"] for a in shown["add_ons"]]) == ("Team", [str(add_on.pk)])


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_refund_after_the_periods_end_before_the_sweep_moves_the_checkout_onto_the_renewal(
    user,
):
    """S1 has ended (the sweep has not run yet) and S2, its renewal, runs: a refund of S1 then
    cancelled the checkout, which the sweep would have moved onto S2."""
    add_ons, first, second = renewed(user)

    with time_machine.travel(first.expires_at + timedelta(minutes=1), tick=False):
        invoice_refund(invoice_id=first.invoice_id)

    assert Invoice.objects.get(pk=add_ons.pk).status == "pending"
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("pending", second.pk)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_with_no_other_plan_running_the_checkout_is_still_cancelled(user):
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan, reference="plan-1")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice

    invoice_refund(invoice_id=plan.pk)

    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"
