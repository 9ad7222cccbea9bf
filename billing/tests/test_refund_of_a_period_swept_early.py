"""A refund of a period the expiry's sweep has already recorded expired, its clock a little
ahead of the refund's (the machines' clocks differ), while a third period of the same plan
or add-on, paid early, is captured. The refund's clock is still inside the period: it takes
it back and moves the renewal waiting for it up to the refund (invoice_take_back counts a
period swept expired as one that ran). Its lock of the rows it writes must count it too:
before, the id-ordered lock left the waiting renewal out, the capture locked it and read its
end, and the refund, having read the periods waiting before the capture committed, moved
the renewal up without the third: the customer went without the plan (or add-on) they paid
for between the renewal's new end and the third's old start, the clock skew."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.db import connections

from accounts.tests.factories import UserFactory
from billing.models import AddOnSubscription, Subscription
from billing.services import fulfilment, invoice_refund, renewals
from billing.services.reconcile import local
from billing.tests.helpers import capture, checkout, monthly_paid, refund_and_capture_tries
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.waits import sessions_waiting_on_a_lock, wait_until

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MONTH = relativedelta(months=1)
SKEW = timedelta(seconds=30)


def period(row) -> tuple:
    row.refresh_from_db()
    return row.status, row.starts_at, row.expires_at


def refund_while_an_early_payment_is_captured(monkeypatch, refunded, model, **items):
    """The sweep, its clock SKEW past `refunded`'s end, records it expired; then, the clock
    SKEW before that end, a capture of a third period (`items`) is paused once it holds the
    running periods (`running_ends`) until the refund of `refunded` waits for a lock or
    finishes. Returns the refund's instant, the third period and each try of either."""
    end = refunded.expires_at
    with time_machine.travel(end + SKEW, tick=False):
        assert local.ended_subscriptions_expire() >= 1
    assert period(refunded)[0] == "expired"
    tries = refund_and_capture_tries(monkeypatch)
    held, go, answers = threading.Event(), threading.Event(), {}
    ends = renewals.running_ends

    def hold_then_answer(*args, **kwargs):
        found = ends(*args, **kwargs)
        held.set()
        go.wait(10)
        return found

    monkeypatch.setattr(renewals, "running_ends", hold_then_answer)
    monkeypatch.setattr(fulfilment, "running_ends", hold_then_answer)

    def run(name, call) -> None:
        try:
            answers[name] = call()
        except Exception as error:  # the test reports whatever either side raised
            answers[name] = error
        finally:
            connections.close_all()

    at = end - SKEW
    with time_machine.travel(at, tick=False):
        third = checkout(refunded.user, **items).invoice
        payment = lambda: capture(third, reference="third")  # noqa: E731
        refund = lambda: invoice_refund(invoice_id=refunded.invoice_id)  # noqa: E731
        paying = threading.Thread(target=run, args=("capture", payment))
        paying.start()
        held.wait(10)
        refunding = threading.Thread(target=run, args=("refund", refund))
        refunding.start()
        wait_until(lambda: "refund" in answers or sessions_waiting_on_a_lock() > 0)
        go.set()
        paying.join()
        refunding.join()

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    return at, model.objects.get(invoice=third), tries


@pytest.mark.django_db(transaction=True)
def test_a_renewal_and_a_third_period_follow_a_refunded_period_the_sweep_expired(monkeypatch):
    user = UserFactory()
    plan = PlanFactory()
    first = monthly_paid(user, START, "first", Subscription, plan=plan)
    second = monthly_paid(user, START + timedelta(days=20), "second", Subscription, plan=plan)

    at, third, tries = refund_while_an_early_payment_is_captured(
        monkeypatch, first, Subscription, plan=plan
    )

    assert sorted(tries) == ["_capture_once", "_refund"]  # neither rolled back
    assert period(first)[0] == "cancelled"
    assert period(second) == ("active", at, at + MONTH)
    assert period(third) == ("active", at + MONTH, at + 2 * MONTH)


@pytest.mark.django_db(transaction=True)
def test_add_on_periods_follow_a_refunded_add_on_period_the_sweep_expired(monkeypatch):
    user = UserFactory()
    add_on = AddOnFactory()
    with time_machine.travel(START, tick=False):
        capture(checkout(user, plan=PlanFactory(billing_period="yearly")).invoice, reference="plan")
    first = monthly_paid(
        user, START + timedelta(days=1), "first", AddOnSubscription, add_ons=[add_on]
    )
    second = monthly_paid(
        user, START + timedelta(days=20), "second", AddOnSubscription, add_ons=[add_on]
    )

    at, third, tries = refund_while_an_early_payment_is_captured(
        monkeypatch, first, AddOnSubscription, add_ons=[add_on]
    )

    assert sorted(tries) == ["_capture_once", "_refund"]  # neither rolled back
    assert period(first)[0] == "cancelled"
    assert period(second) == ("active", at, at + MONTH)
    assert period(third) == ("active", at + MONTH, at + 2 * MONTH)
