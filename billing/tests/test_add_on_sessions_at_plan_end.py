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
