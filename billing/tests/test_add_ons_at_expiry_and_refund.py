"""The instant a period S1 ends while a renewal S2 of the same plan waits, with add-ons
checked out alone relying on S1: the expiry's sweep (its clock at the end) records S1 expired
and reads the plan that runs, S2, FOR SHARE; a refund of S1 whose clock is still inside the
period locks S1 and S2 in id order (renewals_lock). The sweep now takes the two in id order
too, so when S2 sorts first the two no longer meet in a circle: whichever comes second waits.
Before, PostgreSQL rolled one back, and the one run again could meet the other again."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connections

from accounts.tests.factories import UserFactory
from billing.models import AddOnSubscription, Invoice, Subscription
from billing.services import invoice_cancel, invoice_refund, refunds
from billing.services.reconcile import local
from billing.services.reconcile.report import ReconcileReport
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.waits import sessions_waiting_on_a_lock, wait_until

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def renewed_sorting_first(user) -> tuple[Invoice, Subscription, Subscription]:
    """S1 paid at START; add-ons checked out alone on day 10 (on S1); S1's plan paid again on
    day 20 (S2, waiting), checked out again until S2's id sorts before S1's (each checkout
    that does not is cancelled). Returns the add-ons' pending invoice, S1 and S2."""
    plan = PlanFactory()
    with time_machine.travel(START, tick=False) as clock:
        # S1's id in the upper half, so each try at S2 sorts before it at least half the
        # time: with S1's id left to chance, one run in 65 found no S2 in 64 tries.
        for _ in range(64):
            first = checkout(user, plan=plan).invoice
            period = Subscription.objects.get(invoice=first)
            if period.pk.int >= 1 << 127:
                break
            invoice_cancel(invoice_id=first.pk)
        capture(first, reference="plan-1")
        period.refresh_from_db()
        clock.move_to(START + timedelta(days=10))
        add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
        clock.move_to(START + timedelta(days=20))
        for _ in range(64):
            second = checkout(user, plan=plan).invoice
            if Subscription.objects.get(invoice=second).pk < period.pk:
                break
            invoice_cancel(invoice_id=second.pk)
        capture(second, reference="plan-2")
    return add_ons, period, Subscription.objects.get(invoice=second)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_and_a_refund_at_the_periods_end_both_finish_at_the_first_try(monkeypatch):
    """The sweep is paused once its UPDATE holds S1, until the refund waits for it. Before,
    the refund held S2 by then and the sweep, reading S2 next, waited for it: PostgreSQL
    rolled one back, and the sweep's second try could take S1 again before the refund had
    locked it, meet it again, and fail the run (`reconcile_purchases` exit code 5)."""
    user = UserFactory()
    add_ons, first, second = renewed_sorting_first(user)
    assert second.pk < first.pk
    end = first.expires_at
    held, go, answers = threading.Event(), threading.Event(), {}
    move = local.add_on_checkouts_of_expired_end

    def hold_s1_then_move(*, subscription):
        held.set()
        go.wait(10)
        return move(subscription=subscription)

    monkeypatch.setattr(local, "add_on_checkouts_of_expired_end", hold_s1_then_move)
    tries = []
    for module, name in ((refunds, "_refund"), (local, "_expired")):
        monkeypatch.setattr(module, name, _counted(tries, name, getattr(module, name)))

    def sweep() -> ReconcileReport:
        report = ReconcileReport(dry_run=False)
        local.subscriptions_expire(report)
        return report

    def run(name, call) -> None:
        try:
            answers[name] = call()
        except Exception as error:  # the test reports whatever either side raised
            answers[name] = error
        finally:
            connections.close_all()

    with time_machine.travel(end, tick=False) as clock:
        sweeping = threading.Thread(target=run, args=("sweep", sweep))
        sweeping.start()
        held.wait(10)
        clock.move_to(end - timedelta(microseconds=1))
        refund = lambda: invoice_refund(invoice_id=first.invoice_id)  # noqa: E731
        refunding = threading.Thread(target=run, args=("refund", refund))
        refunding.start()
        wait_until(lambda: "refund" in answers or sessions_waiting_on_a_lock() > 0)
        clock.move_to(end)
        go.set()
        sweeping.join()
        refunding.join()

    assert not any(isinstance(answer, Exception) for answer in answers.values()), answers
    assert answers["sweep"].failed == []
    assert sorted(tries) == ["_expired", "_refund"]  # neither rolled back
    assert Invoice.objects.get(pk=first.invoice_id).status == "refunded"
    # Expired first, S1 is cancelled by the refund that follows, which moves S2 up to it.
    assert Subscription.objects.get(pk=first.pk).status == "cancelled"
    renewal = Subscription.objects.get(pk=second.pk)
    assert (renewal.status, renewal.starts_at) == ("active", end - timedelta(microseconds=1))
    assert Invoice.objects.get(pk=add_ons.pk).status == "pending"
    add_on = AddOnSubscription.objects.get(invoice=add_ons)
    assert (add_on.status, add_on.subscription_id) == ("pending", second.pk)


def _counted(tries: list, name: str, work):
    def counted(*args):
        tries.append(name)
        return work(*args)

    return counted
