"""Add-ons bought alone that rely on a period which is refunded while a renewal of the same
plan waits to follow it: the renewal starts at the refund (renewals.py), and the add-ons,
still with a plan, rely on it from then on instead of being cancelled."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing.models import AddOnSubscription, Invoice, Subscription
from billing.services import capture as capture_service
from billing.services import invoice_refund
from billing.services import invoices as invoices_service
from billing.tests.add_ons_after_refund_helpers import REFUND_AT, START, renewed
from billing.tests.helpers import capture, checkout, deliver, payment_body
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.concurrency import meeting
from common.tests.waits import sessions_waiting_on_a_lock, wait_until
from conftest import client_for


@pytest.mark.django_db(transaction=True)
def test_refunds_of_two_plans_at_once_both_succeed_and_the_checkout_ends(monkeypatch):
    """Real threads on PostgreSQL: Monthly's refund holds Monthly and reads Team FOR SHARE
    for the add-ons' checkout, while Team's holds Team and reads Monthly FOR SHARE for its
    own. PostgreSQL rolls one back; it runs once more after the other, and with no plan
    left the checkout is cancelled."""
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        monthly = checkout(user, plan=PlanFactory(name="Monthly")).invoice
        capture(monthly, reference="plan-1")
        on_monthly = checkout(user, add_ons=[AddOnFactory()]).invoice
        clock.move_to(START + timedelta(days=5))
        team = checkout(user, plan=PlanFactory(name="Team")).invoice
        capture(team, reference="team")
        on_team = checkout(user, add_ons=[AddOnFactory()]).invoice
    arrived, answers = threading.Barrier(2, timeout=10), {}
    reads, reads_lock = [], threading.Lock()
    lock_and_read = invoices_service.subscription_active

    def both_hold_their_own_then_read(**kwargs):
        with reads_lock:
            reads.append(kwargs)
            first_two = len(reads) <= 2
        if first_two:  # the try PostgreSQL rolls back runs once more, alone
            arrived.wait()
        return lock_and_read(**kwargs)

    monkeypatch.setattr(invoices_service, "subscription_active", both_hold_their_own_then_read)

    def run(invoice) -> None:
        try:
            answers[invoice.pk] = invoice_refund(invoice_id=invoice.pk)
        except Exception as error:  # the test reports whatever either side raised
            answers[invoice.pk] = error
        finally:
            connections.close_all()

    with time_machine.travel(START + timedelta(days=6), tick=False):
        threads = [threading.Thread(target=run, args=(plan,)) for plan in (monthly, team)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert len(reads) == 3  # the two that met, and the one rolled back, once more
    assert set(
        Invoice.objects.filter(pk__in=[monthly.pk, team.pk]).values_list("status", flat=True)
    ) == {"refunded"}
    assert set(
        Invoice.objects.filter(pk__in=[on_monthly.pk, on_team.pk]).values_list("status", flat=True)
    ) == {"cancelled"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refund_first", [True, False])
def test_the_refund_and_the_add_ons_payment_at_once_neither_deadlock_nor_lose_the_add_on(
    refund_first,
):
    """Real threads on PostgreSQL: whichever of the two goes second waits for the add-ons'
    invoice and then sees the other's result; the add-on is paid and active either way."""
    user = UserFactory()
    add_ons, first, second = renewed(user)

    with time_machine.travel(REFUND_AT, tick=False):
        refund = lambda: invoice_refund(invoice_id=first.invoice_id)  # noqa: E731
        payment = lambda: capture(add_ons, reference="add-ons")  # noqa: E731
        answers = meeting(refund, payment) if refund_first else meeting(payment, refund)

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert Invoice.objects.get(pk=add_ons.pk).status == "paid"
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("active", second.pk)
    assert Subscription.objects.get(pk=second.pk).starts_at == REFUND_AT


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("plan_first", [True, False])
def test_refunds_of_the_plan_and_of_the_paid_add_ons_at_once_end_the_add_ons(plan_first):
    """The plan's refund moves the paid add-on (its row) while the add-ons' own refund
    cancels it: whichever goes second waits for that row and then sees the other's result."""
    user = UserFactory()
    add_ons, first, second = renewed(user)
    with time_machine.travel(START + timedelta(days=21), tick=False):
        capture(add_ons, reference="add-ons")

    with time_machine.travel(REFUND_AT, tick=False):
        plan = lambda: invoice_refund(invoice_id=first.invoice_id)  # noqa: E731
        own = lambda: invoice_refund(invoice_id=add_ons.pk)  # noqa: E731
        answers = meeting(plan, own) if plan_first else meeting(own, plan)

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert Invoice.objects.get(pk=add_ons.pk).status == "refunded"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"
    assert Subscription.objects.get(pk=second.pk).starts_at == REFUND_AT


def _paid_through_stripe(fake_stripe, user, refunds: list):
    """Pays the invoice through a Stripe Checkout Session; `refunds` gets the session's
    `charge.refunded` delivery, to send later."""
    customer = client_for(user)

    def pay(invoice) -> None:
        started = customer.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"})
        session = started.json()["session_id"]
        _stripe_send(fake_stripe, fake_stripe.complete(session))
        refunds.append(lambda: _stripe_send(fake_stripe, fake_stripe.refunded(session)))

    return pay


def _stripe_send(fake_stripe, event):
    body, signature = fake_stripe.signed(event)
    return APIClient().post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("way", ["services", "api", "stripe"])
def test_a_payment_at_the_periods_end_and_its_refund_just_before_both_succeed(
    monkeypatch, request, way
):
    """At the instant S1 ends: the add-ons' payment (its clock at the end) locks their invoice
    and moves them onto the plan that runs, S2, read FOR SHARE; S1's refund (its clock a
    moment before: S1 not ended) locks S1 and S2, then the add-ons' invoice. PostgreSQL
    rolls one of the two back (a deadlock; a 503 through the API), which now runs once more.
    The payment is paused once it holds its invoice, until the refund waits for it."""
    user, stripe_refunds = UserFactory(), []
    if way == "stripe":
        fake_stripe = request.getfixturevalue("fake_stripe")
        add_ons, first, second = renewed(
            user, _paid_through_stripe(fake_stripe, user, stripe_refunds)
        )
    else:
        add_ons, first, second = renewed(user)
    if way == "services":
        pay = lambda: capture(add_ons, "add-ons")  # noqa: E731
        refund = lambda: invoice_refund(invoice_id=first.invoice_id)  # noqa: E731
    else:
        webhook, staff = APIClient(), client_for(UserFactory(is_staff=True))
        pay = lambda: deliver(webhook, payment_body(add_ons))  # noqa: E731
        refund = (
            stripe_refunds[0]
            if stripe_refunds
            else (lambda: staff.post(f"/api/v1/admin/invoices/{first.invoice_id}/refund"))
        )
    end = first.expires_at
    locked, go, answers = threading.Event(), threading.Event(), {}
    move = capture_service._add_ons_onto_the_plan_that_runs

    def hold_the_invoice_then_move(invoice):
        locked.set()
        go.wait(10)
        move(invoice)

    monkeypatch.setattr(
        capture_service, "_add_ons_onto_the_plan_that_runs", hold_the_invoice_then_move
    )

    def run(name, call) -> None:
        try:
            answers[name] = call()
        except Exception as error:  # the test reports whatever either side raised
            answers[name] = error
        finally:
            connections.close_all()

    with time_machine.travel(end, tick=False) as clock:
        paying = threading.Thread(target=run, args=("capture", pay))
        paying.start()
        locked.wait(10)
        clock.move_to(end - timedelta(microseconds=1))
        refunding = threading.Thread(target=run, args=("refund", refund))
        refunding.start()
        wait_until(lambda: "refund" in answers or sessions_waiting_on_a_lock() > 0)
        clock.move_to(end)
        go.set()
        paying.join()
        refunding.join()

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    if way != "services":
        assert [answers["capture"].status_code, answers["refund"].status_code] == [200, 200]
    assert Invoice.objects.get(pk=first.invoice_id).status == "refunded"
    assert Invoice.objects.get(pk=add_ons.pk).status == "paid"
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("active", second.pk)
