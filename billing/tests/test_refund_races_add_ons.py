"""Refunds racing spending and each other, with real threads on PostgreSQL (each with its own
connection), directly and through PgBouncer in transaction pooling."""

import threading

import pytest
from django.db import connections

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import AddOnSubscription, Invoice
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.errors import InvalidState
from common.tests.concurrency import meeting
from common.tests.waits import sessions_waiting_on_a_lock, wait_until
from conftest import client_for
from tokens import services as token_services
from tokens.models import TokenAccount

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


def add_ons_relying_on_an_ended_plan() -> list[tuple]:
    """Pending checkouts of add-ons whose subscription is no longer active: payable later,
    they would activate add-ons with no active plan."""
    return list(
        AddOnSubscription.objects.filter(status="pending", invoice__status="pending")
        .exclude(subscription__status="active")
        .values_list("invoice__number", "subscription__status")
    )


def test_a_checkout_of_add_ons_while_their_plan_is_refunded_is_400_once_it_is():
    """The refund goes first and has not committed: the checkout read the subscription as
    still active, created its pending invoice, and the refund, which had already looked for
    such checkouts, committed without it. Now the checkout waits for the refund and finds no
    plan to rely on."""
    user = UserFactory()
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_on = AddOnFactory()
    client = client_for(user)

    answers = meeting(
        lambda: services.invoice_refund(invoice_id=plan.pk),
        lambda: client.post(
            "/api/v1/user/checkout", {"add_on_ids": [str(add_on.pk)]}, format="json"
        ),
    )

    assert isinstance(answers["held"], services.RefundResult), answers["held"]
    response = answers["waiting"]
    assert (response.status_code, response.json().get("fields")) == (
        400,
        {"add_on_ids": ["Add-ons need a plan: add plan_id, or subscribe to a plan first."]},
    )
    assert add_ons_relying_on_an_ended_plan() == []
    assert list(Invoice.objects.values_list("pk", "status")) == [(plan.pk, "refunded")]
    assert not AddOnSubscription.objects.exists()


def test_a_plans_refund_while_a_checkout_of_its_add_ons_commits_cancels_that_checkout():
    """The checkout goes first and has not committed: the refund looked for pending
    checkouts of add-ons relying on the plan, found none, and committed; the checkout then
    committed an invoice for add-ons with no active plan, payable later. Now the refund
    waits for the checkout and cancels it."""
    user = UserFactory()
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_on = AddOnFactory()

    answers = meeting(
        lambda: checkout(user, add_ons=[add_on]),
        lambda: services.invoice_refund(invoice_id=plan.pk),
    )

    assert isinstance(answers["held"], services.CheckoutResult), answers["held"]
    assert isinstance(answers["waiting"], services.RefundResult), answers["waiting"]
    assert add_ons_relying_on_an_ended_plan() == []
    add_ons = answers["held"].invoice
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"
    assert Invoice.objects.get(pk=plan.pk).status == "refunded"


def test_a_plans_refund_and_the_capture_of_add_ons_relying_on_it_do_not_deadlock(monkeypatch):
    """The refund took back the plan's tokens (locking the token account) and then locked the
    add-ons' pending invoice; a capture of that invoice locks it, then the token account to
    credit its bundle: each waited for the other. The refund is paused once it has taken the
    tokens back, until the capture answers or waits for a lock; the database is real."""
    user = UserFactory()
    plan = checkout(user, plan=PlanFactory(included_tokens=100)).invoice
    capture(plan)
    add_ons = checkout(user, add_ons=[AddOnFactory()], bundles=[TokenBundleFactory()]).invoice
    taken_back, answers = threading.Event(), {}
    reverse = token_services.purchases_reverse

    def reverse_then_let_the_capture_in(**kwargs):
        reverse(**kwargs)
        taken_back.set()
        wait_until(lambda: "capture" in answers or sessions_waiting_on_a_lock() > 0)

    monkeypatch.setattr(token_services, "purchases_reverse", reverse_then_let_the_capture_in)

    def refund() -> None:
        try:
            answers["refund"] = services.invoice_refund(invoice_id=plan.pk)
        except Exception as error:  # the test reports whatever either side raised
            answers["refund"] = error
        finally:
            connections.close_all()

    refunding = threading.Thread(target=refund)
    refunding.start()
    taken_back.wait(10)
    try:
        answers["capture"] = capture(add_ons, reference="pay-2")
    except Exception as error:  # the test reports whatever either side raised
        answers["capture"] = error
    refunding.join()

    assert isinstance(answers["refund"], services.RefundResult), answers
    assert isinstance(answers["capture"], InvalidState), answers
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert not AddOnSubscription.objects.filter(status="active").exists()
    assert TokenAccount.objects.get(user=user).balance == 0
