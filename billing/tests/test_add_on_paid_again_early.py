"""Paying an add-on again while the user's period of that add-on still runs: the new period
starts where the running one ends, as a plan's does, so the rest of the period already paid
for is not lost. A one-time add-on, another add-on, or one whose period has ended starts at
the payment."""

import threading
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.db import transaction

from accounts.tests.factories import UserFactory
from billing.models import AddOnSubscription, Invoice
from billing.services import invoices, refunds, renewals
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.concurrency import meeting, paused_first

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MONTH = relativedelta(months=1)


def paid(user, at: datetime, reference: str, **items) -> list[AddOnSubscription]:
    with time_machine.travel(at, tick=False):
        invoice = checkout(user, **items).invoice
        capture(invoice, reference=reference)
    return list(AddOnSubscription.objects.filter(invoice=invoice).order_by("created_at"))


def period(add_on: AddOnSubscription) -> tuple:
    add_on.refresh_from_db()
    return add_on.starts_at, add_on.expires_at


@pytest.mark.sqlite
@pytest.mark.django_db
def test_an_add_on_paid_again_early_starts_where_the_running_period_ends(user):
    plan = PlanFactory(billing_period="yearly")
    add_on = AddOnFactory()
    (first,) = paid(user, START, "first", plan=plan, add_ons=[add_on])
    (second,) = paid(user, START + timedelta(days=20), "second", add_ons=[add_on])
    (third,) = paid(user, START + timedelta(days=21), "third", add_ons=[add_on])

    assert period(first) == (START, START + MONTH)
    assert period(second) == (START + MONTH, START + 2 * MONTH)
    assert period(third) == (START + 2 * MONTH, START + 3 * MONTH)
    assert {a.status for a in (first, second, third)} == {"active"}


@pytest.mark.sqlite
@pytest.mark.django_db
def test_another_add_on_a_one_time_one_or_one_that_has_ended_starts_at_the_payment(user):
    plan = PlanFactory(billing_period="yearly")
    monthly, once = AddOnFactory(), AddOnFactory(billing_period="one_time")
    first = paid(user, START, "first", plan=plan, add_ons=[monthly, once])
    at = START + timedelta(days=3)
    other, once_again = paid(user, at, "again", add_ons=[AddOnFactory(), once])
    ended = START + MONTH + timedelta(hours=1)
    (monthly_again,) = paid(user, ended, "after", add_ons=[monthly])

    assert period(first[1]) == (START, None)
    assert period(other) == (at, at + MONTH)
    assert period(once_again) == (at, None)
    assert period(monthly_again) == (ended, ended + MONTH)


@pytest.mark.django_db(transaction=True)
def test_an_add_on_paid_again_twice_at_once_gives_two_periods_one_after_the_other():
    """Each capture read the running period's end before the other committed: both periods
    started there and one was lost. The second waits for the first and follows it."""
    user = UserFactory()
    add_on = AddOnFactory()
    paid(user, START, "first", plan=PlanFactory(billing_period="yearly"), add_ons=[add_on])
    with time_machine.travel(START + timedelta(days=20), tick=False):
        a = checkout(user, add_ons=[add_on]).invoice
        b = checkout(user, add_ons=[add_on]).invoice
        answers = meeting(lambda: capture(a, reference="a"), lambda: capture(b, reference="b"))

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    periods = sorted(period(AddOnSubscription.objects.get(invoice=invoice)) for invoice in (a, b))
    assert periods == [(START + MONTH, START + 2 * MONTH), (START + 2 * MONTH, START + 3 * MONTH)]


@pytest.mark.django_db(transaction=True)
def test_an_add_on_paid_twice_at_once_with_none_running_gives_two_periods(monkeypatch):
    """With no period of the add-on running, a capture locked nothing: a second one at once
    read no running period either, and both periods started at the payment, one of them
    lost. The second now waits for the first and follows it."""
    user = UserFactory()
    add_on = AddOnFactory()
    paid(user, START, "plan", plan=PlanFactory(billing_period="yearly"))
    held, go = threading.Event(), threading.Event()
    ends = renewals.running_ends

    def first_holds(*args, **kwargs):
        found = ends(*args, **kwargs)
        if threading.current_thread().name == "a":
            held.set()
            go.wait(10)
        return found

    monkeypatch.setattr(renewals, "running_ends", first_holds)

    at = START + timedelta(days=3)
    with time_machine.travel(at, tick=False):
        a = checkout(user, add_ons=[add_on]).invoice
        b = checkout(user, add_ons=[add_on]).invoice
        answers = paused_first(
            ("a", lambda: capture(a, reference="a")),
            ("b", lambda: capture(b, reference="b")),
            held=held,
            go=go,
        )

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    periods = sorted(period(AddOnSubscription.objects.get(invoice=i)) for i in (a, b))
    assert periods == [(at, at + MONTH), (at + MONTH, at + 2 * MONTH)]


@pytest.mark.django_db(transaction=True)
def test_an_add_on_paid_while_a_refund_cancels_a_checkout_of_it_is_captured_at_once(monkeypatch):
    """A refund of a plan bought with an add-on cancels the add-on checkouts relying on its
    plan (writing their periods), then locks the add-on's running periods. A capture of the
    same add-on on another checkout (with a plan of its own) took the running period first
    and then waited for the cancelled checkout's: the two met in a circle and PostgreSQL
    rolled the capture back. Inside a caller's transaction (reconciliation captures a paid
    session in one) it failed; now it waits for the refund and is paid."""
    user = UserFactory()
    add_on = AddOnFactory()
    with time_machine.travel(START, tick=False):
        refunded = checkout(user, plan=PlanFactory(billing_period="yearly"), add_ons=[add_on])
        capture(refunded.invoice, reference="refunded")
    # The running period sorts first, as a capture and the refund's lock take them by id.
    AddOnSubscription.objects.filter(invoice=refunded.invoice).update(id=UUID(int=1))
    at = START + timedelta(days=3)
    with time_machine.travel(at, tick=False):
        checkout(user, add_ons=[add_on])  # relies on the refunded plan: cancelled by it
        paying = checkout(user, plan=PlanFactory(billing_period="yearly"), add_ons=[add_on])
    held, go = threading.Event(), threading.Event()
    lock = refunds.add_on_periods_lock

    def refund_holds(*args, **kwargs):
        if threading.current_thread().name == "refund":
            held.set()
            go.wait(10)
        return lock(*args, **kwargs)

    monkeypatch.setattr(refunds, "add_on_periods_lock", refund_holds)

    def capture_in_a_transaction():
        with transaction.atomic():
            return capture(paying.invoice, reference="paying")

    with time_machine.travel(at + timedelta(hours=1), tick=False):
        answers = paused_first(
            ("refund", lambda: refunds.invoice_refund(invoice_id=refunded.invoice.pk)),
            ("capture", capture_in_a_transaction),
            held=held,
            go=go,
        )

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    bought = AddOnSubscription.objects.get(invoice=paying.invoice)
    paid_at = at + timedelta(hours=1)  # the refunded period ended before it
    assert (bought.status, period(bought)) == ("active", (paid_at, paid_at + MONTH))


@pytest.mark.django_db(transaction=True)
def test_an_add_on_paid_while_a_refund_cancels_two_checkouts_of_it_is_captured_at_once(
    monkeypatch,
):
    """A refund cancels the add-on checkouts relying on its plan one invoice after another
    (in the invoices' id order), writing their periods; a capture of the same add-on on
    another checkout locks those periods in their own id order. With the two orders apart,
    the capture held the second checkout's period and waited for the first's, which the
    refund held while it waited for the second's: PostgreSQL rolled the capture back."""
    user = UserFactory()
    add_on = AddOnFactory()
    with time_machine.travel(START, tick=False):
        refunded = checkout(user, plan=PlanFactory(billing_period="yearly"))
        capture(refunded.invoice, reference="refunded")
    at = START + timedelta(days=3)
    with time_machine.travel(at, tick=False):
        relying = sorted(
            (checkout(user, add_ons=[add_on]).invoice for _ in range(2)), key=lambda i: i.pk
        )
        paying = checkout(user, plan=PlanFactory(billing_period="yearly"), add_ons=[add_on])
    # The refund cancels the first invoice first; its period sorts after the second's.
    for invoice, first in zip(relying, (UUID(int=3), UUID(int=2)), strict=True):
        AddOnSubscription.objects.filter(invoice=invoice).update(id=first)
    held, go = threading.Event(), threading.Event()
    cancelled = invoices._cancelled

    def refund_holds(invoice, **kwargs):
        cancelled(invoice, **kwargs)
        if threading.current_thread().name == "refund" and not held.is_set():
            held.set()
            go.wait(10)

    monkeypatch.setattr(invoices, "_cancelled", refund_holds)

    def capture_in_a_transaction():
        with transaction.atomic():
            return capture(paying.invoice, reference="paying")

    with time_machine.travel(at + timedelta(hours=1), tick=False):
        answers = paused_first(
            ("refund", lambda: refunds.invoice_refund(invoice_id=refunded.invoice.pk)),
            ("capture", capture_in_a_transaction),
            held=held,
            go=go,
        )

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert [i.status for i in Invoice.objects.filter(pk__in=[i.pk for i in relying])] == [
        "cancelled"
    ] * 2
    assert AddOnSubscription.objects.get(invoice=paying.invoice).status == "active"
