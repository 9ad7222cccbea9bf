"""A checkout of add-ons bought alone, its Stripe tab open, when the plan it relies on ends:
the sweep that records the plan expired cancels the checkout and its Stripe session must no
longer take the customer's money (else the payment is refused here, `needs_review`, after
they were charged)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from billing import services
from billing.models import Invoice, Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory

pytestmark = pytest.mark.django_db


def reconcile() -> tuple[dict, int]:
    out = StringIO()
    try:
        call_command("reconcile_purchases", "--json", stdout=out)
        code = 0
    except CommandError as error:
        code = error.returncode
    return json.loads(out.getvalue()), code


@pytest.fixture
def paying(user, fake_stripe):
    """A plan ending; half an hour before, a checkout of add-ons alone whose Stripe tab is
    open (younger than the hour after which a run asks Stripe about a pending session)."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    ended = Subscription.objects.get(invoice=plan).expires_at
    with time_machine.travel(ended - timedelta(minutes=30), tick=False):
        add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
        session = services.invoice_pay_with_stripe(invoice_id=add_ons.pk, user_id=user.pk)
    return add_ons, session.session_id, ended


def test_the_sweep_expires_the_stripe_session_of_an_add_on_checkout_it_cancels(
    paying, fake_stripe, django_capture_on_commit_callbacks
):
    add_ons, session_id, ended = paying

    with time_machine.travel(ended, tick=False), django_capture_on_commit_callbacks(execute=True):
        report, code = reconcile()

    assert (code, report["subscriptions_expired"], report["stripe_errors"]) == (0, 1, [])
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert fake_stripe.sessions[session_id]["status"] == "expired"


def test_stripe_down_when_the_sweep_cancels_is_reported_and_the_expiry_retried(
    paying, fake_stripe, django_capture_on_commit_callbacks
):
    """The cancel stands; the session Stripe could not be asked to expire is named in the
    run's Stripe errors (exit code 3, run again) and expired by the next run: only logged, it
    stayed open until Stripe's own 24 h and took the customer's money."""
    add_ons, session_id, ended = paying
    fake_stripe.fail_next(100)

    with time_machine.travel(ended, tick=False), django_capture_on_commit_callbacks(execute=True):
        failed, code = reconcile()
    fake_stripe.fail_next(0)
    with time_machine.travel(ended + timedelta(hours=1), tick=False):
        again, again_code = reconcile()

    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert (code, f"{add_ons.number}: " in " ".join(failed["stripe_errors"])) == (3, True)
    assert (again_code, again["stripe_errors"]) == (0, [])
    assert fake_stripe.sessions[session_id]["status"] == "expired"


def test_a_session_expired_when_its_invoice_was_cancelled_is_not_asked_about_again(
    user, fake_stripe
):
    """The customer's own cancel expires the session first: a run asks Stripe nothing more."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    services.invoice_pay_with_stripe(invoice_id=add_ons.pk, user_id=user.pk)
    services.invoice_cancel(invoice_id=add_ons.pk, user_id=user.pk)
    asked = len(fake_stripe.requests)

    report, code = reconcile()

    assert (code, report["stripe_sessions_expired"]) == (0, 0)
    assert [r.path for r in fake_stripe.requests[asked:] if "/checkout/" in r.path] == []


@pytest.mark.parametrize(
    ("before_end", "capped"),
    [(timedelta(hours=3), True), (timedelta(minutes=20), False), (timedelta(days=2), False)],
)
def test_the_stripe_session_of_add_ons_ends_when_their_plan_does(
    user, fake_stripe, before_end, capped
):
    """Paid in the customer's tab between the plan's end and the sweep (up to an hour), the
    payment was taken and then refused here (needs_review). The session now ends with the
    plan when Stripe allows it (30 minutes to 24 hours ahead); otherwise Stripe's own end."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    ended = Subscription.objects.get(invoice=plan).expires_at
    with time_machine.travel(ended - before_end, tick=False):
        add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
        start = services.invoice_pay_with_stripe(invoice_id=add_ons.pk, user_id=user.pk)
        again = services.invoice_pay_with_stripe(invoice_id=add_ons.pk, user_id=user.pk)
        default_end = int((ended - before_end + timedelta(hours=24)).timestamp())

    expected = int(ended.timestamp()) if capped else default_end
    assert fake_stripe.sessions[start.session_id]["expires_at"] == expected
    assert Invoice.objects.get(pk=add_ons.pk).stripe_session_expires_at.timestamp() == expected
    assert again.session_id == start.session_id


def test_a_session_with_a_plan_of_its_own_keeps_stripes_end(user, fake_stripe):
    """A plan bought with its add-ons: nothing they rely on ends."""
    invoice = checkout(user, plan=PlanFactory(), add_ons=[AddOnFactory()]).invoice

    start = services.invoice_pay_with_stripe(invoice_id=invoice.pk, user_id=user.pk)

    assert "expires_at" not in fake_stripe.requests[-1].params
    assert fake_stripe.sessions[start.session_id]["status"] == "open"
