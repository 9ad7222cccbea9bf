"""A refund of the add-on period another period of the same add-on, paid early, waits to
follow: the waiting period, paid for, starts at the refund instead, as a plan's renewal does
(test_renewal_after_refund.py). Before, it kept its dates: the customer who paid for the next
period went without the add-on from the refund until the refunded period's end."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.db import connections

from accounts.tests.factories import UserFactory
from billing.models import AddOnSubscription, Invoice
from billing.services import fulfilment, invoice_cancel, invoice_refund
from billing.tests.helpers import capture, checkout, refund_and_capture_tries
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.concurrency import meeting
from common.tests.waits import sessions_waiting_on_a_lock, wait_until
from events.models import Event

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MONTH = relativedelta(months=1)


def paid(user, at: datetime, reference: str, **items) -> AddOnSubscription:
    """The invoice's one periodic add-on, paid at `at`."""
    with time_machine.travel(at, tick=False):
        invoice = checkout(user, **items).invoice
        capture(invoice, reference=reference)
    return AddOnSubscription.objects.get(invoice=invoice, billing_period="monthly")


def plan_paid(user) -> None:
    """A yearly plan from START: add-ons checked out alone rely on it."""
    with time_machine.travel(START, tick=False):
        capture(checkout(user, plan=PlanFactory(billing_period="yearly")).invoice, reference="plan")


def refunded(add_on: AddOnSubscription, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        invoice_refund(invoice_id=add_on.invoice_id)


def period(add_on: AddOnSubscription) -> tuple:
    add_on.refresh_from_db()
    return add_on.starts_at, add_on.expires_at


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_period_waiting_for_the_refunded_add_on_period_starts_at_the_refund(user):
    add_on = AddOnFactory()
    plan_paid(user)
    first = paid(user, START + timedelta(days=1), "first", add_ons=[add_on])
    second = paid(user, START + timedelta(days=20), "second", add_ons=[add_on])
    third = paid(user, START + timedelta(days=21), "third", add_ons=[add_on])
    refund_at = START + timedelta(days=25)
    before = list(Event.objects.values_list("pk", flat=True))

    refunded(first, refund_at)

    first.refresh_from_db()
    assert first.status == "cancelled"
    assert period(second) == (refund_at, refund_at + MONTH)
    assert period(third) == (refund_at + MONTH, refund_at + 2 * MONTH)
    assert {second.status, third.status} == {"active"}
    # As at the payment, an add-on's dates are announced to nobody: the refund's own event only.
    assert list(Event.objects.exclude(pk__in=before).values_list("type", flat=True)) == [
        "invoice.refunded"
    ]


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_refund_of_the_plan_invoice_carrying_the_running_add_on_moves_the_waiting_one_up(user):
    """Refunds often come as the whole first order: the plan and its add-on on one invoice."""
    add_on = AddOnFactory()
    first = paid(user, START, "first", plan=PlanFactory(billing_period="yearly"), add_ons=[add_on])
    second = paid(user, START + timedelta(days=20), "second", add_ons=[add_on])
    refund_at = START + timedelta(days=25)

    refunded(first, refund_at)

    assert period(second) == (refund_at, refund_at + MONTH)
    assert second.status == "active"


@pytest.mark.sqlite
@pytest.mark.django_db
def test_add_on_periods_waiting_one_after_another_follow_the_period_left(user):
    add_on = AddOnFactory()
    plan_paid(user)
    first = paid(user, START, "first", add_ons=[add_on])
    second = paid(user, START + timedelta(days=20), "second", add_ons=[add_on])
    third = paid(user, START + timedelta(days=21), "third", add_ons=[add_on])

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
def test_a_refund_of_another_add_on_or_of_an_ended_period_moves_nothing(user):
    add_on = AddOnFactory()
    plan_paid(user)
    first = paid(user, START, "first", add_ons=[add_on])
    second = paid(user, START + timedelta(days=20), "second", add_ons=[add_on])
    other = paid(user, START + timedelta(days=21), "other", add_ons=[AddOnFactory()])

    refunded(other, START + timedelta(days=22))
    assert period(second) == (START + MONTH, START + 2 * MONTH)

    # The first has ended and the second runs: nothing waits any more.
    refunded(first, START + MONTH + timedelta(days=1))
    assert period(second) == (START + MONTH, START + 2 * MONTH)


def waiting_sorting_first(user) -> tuple[AddOnSubscription, AddOnSubscription, object]:
    """A yearly plan, the add-on's running period X (day 1) and a period Y of it paid early on
    day 20, checked out again until Y's id sorts before X's: a capture of the add-on then
    locks Y before X. Returns X, Y and the add-on."""
    add_on = AddOnFactory()
    plan_paid(user)
    with time_machine.travel(START + timedelta(days=1), tick=False):
        # X's id in the upper half, so each try at Y sorts before it at least half the time:
        # with X's id left to chance, one run in 65 found no Y in 64 tries.
        for _ in range(64):
            first = checkout(user, add_ons=[add_on]).invoice
            if AddOnSubscription.objects.get(invoice=first).pk.int >= 1 << 127:
                break
            invoice_cancel(invoice_id=first.pk)
        capture(first, reference="running")
    running = AddOnSubscription.objects.get(invoice=first)
    with time_machine.travel(START + timedelta(days=20), tick=False):
        for _ in range(64):
            invoice = checkout(user, add_ons=[add_on]).invoice
            if AddOnSubscription.objects.get(invoice=invoice).pk < running.pk:
                break
            invoice_cancel(invoice_id=invoice.pk)
        capture(invoice, reference="waiting")
    waiting = AddOnSubscription.objects.get(invoice=invoice)
    assert waiting.pk < running.pk
    return running, waiting, add_on


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refund_first", [True, False])
def test_a_refund_and_an_early_payment_of_the_add_on_at_once_lose_no_period(
    refund_first, monkeypatch
):
    """The refund of the running period X and the capture of a third period Z of the same
    add-on: each locks the add-on's periods in id order, so whichever goes second waits and
    sees the other's result. Either way Y starts at the refund and Z follows it."""
    user = UserFactory()
    running, waiting, add_on = waiting_sorting_first(user)
    tries = refund_and_capture_tries(monkeypatch)
    at = START + timedelta(days=25)
    with time_machine.travel(at, tick=False):
        third = checkout(user, add_ons=[add_on]).invoice
        refund = lambda: invoice_refund(invoice_id=running.invoice_id)  # noqa: E731
        payment = lambda: capture(third, reference="third")  # noqa: E731
        answers = meeting(refund, payment) if refund_first else meeting(payment, refund)

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert sorted(tries) == ["_capture_once", "_refund"]  # neither rolled back
    assert Invoice.objects.get(pk=running.invoice_id).status == "refunded"
    assert period(waiting) == (at, at + MONTH)
    assert period(AddOnSubscription.objects.get(invoice=third)) == (at + MONTH, at + 2 * MONTH)


@pytest.mark.django_db(transaction=True)
def test_a_capture_between_the_refunds_cancel_and_its_move_waits_instead_of_deadlocking(
    monkeypatch,
):
    """The refund is paused after it has ended X and before it moves Y up, while the capture
    of Z locks the add-on's periods in id order, Y first. Had the refund locked only X by
    then (its UPDATE), the capture would hold Y and wait for X while the refund waited for
    Y: PostgreSQL rolls one back. It locked Y with X, so the capture waits for both."""
    user = UserFactory()
    running, waiting, add_on = waiting_sorting_first(user)
    tries = refund_and_capture_tries(monkeypatch)
    paused, go, answers = threading.Event(), threading.Event(), {}
    follow = fulfilment.add_on_periods_follow

    def pause_then_follow(**kwargs):
        if not paused.is_set():
            paused.set()
            go.wait(10)
        return follow(**kwargs)

    monkeypatch.setattr(fulfilment, "add_on_periods_follow", pause_then_follow)

    def run(name, call) -> None:
        try:
            answers[name] = call()
        except Exception as error:  # the test reports whatever either side raised
            answers[name] = error
        finally:
            connections.close_all()

    at = START + timedelta(days=25)
    with time_machine.travel(at, tick=False):
        third = checkout(user, add_ons=[add_on]).invoice
        refund = lambda: invoice_refund(invoice_id=running.invoice_id)  # noqa: E731
        payment = lambda: capture(third, reference="third")  # noqa: E731
        refunding = threading.Thread(target=run, args=("refund", refund))
        refunding.start()
        paused.wait(10)
        paying = threading.Thread(target=run, args=("capture", payment))
        paying.start()
        wait_until(lambda: "capture" in answers or sessions_waiting_on_a_lock() > 0)
        go.set()
        refunding.join()
        paying.join()

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert sorted(tries) == ["_capture_once", "_refund"]  # neither rolled back
    assert period(waiting) == (at, at + MONTH)
    assert period(AddOnSubscription.objects.get(invoice=third)) == (at + MONTH, at + 2 * MONTH)
