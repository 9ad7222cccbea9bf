from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from billing import services
from billing.models import Invoice, PaymentEvent
from billing.services import payments_test_mode as test_mode
from billing.services.reprocess import payment_event_reprocess
from billing.tests.helpers import deliver, payment_body
from billing.tests.pay.helpers import pay, stripe_says
from billing.tests.reconcile_helpers import reconcile

pytestmark = pytest.mark.django_db


def test_a_capture_by_the_payment_webhook_ends_the_open_stripe_session(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    """The customer opened Stripe's page, then paid through the other provider. Before, the
    Stripe tab still took a second payment for the paid invoice, which a person then had to
    refund."""
    session = pay(user_client, invoice).json()["session_id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api_client, payment_body(invoice))

    assert response.json()["status"] == "success"
    assert fake_stripe.sessions[session]["status"] == "expired"


def test_a_stripe_payment_taken_before_the_session_ended_is_still_told_to_a_person(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)  # paid at Stripe; its webhook not yet here

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api_client, payment_body(invoice))

    assert response.json()["status"] == "success"
    assert stripe_says(api_client, fake_stripe, completed) == "needs_review"
    assert Invoice.objects.get(pk=invoice.pk).provider == "payment"
    assert PaymentEvent.objects.filter(provider="stripe", outcome="needs_review").count() == 1


def test_stripe_unreachable_after_the_capture_keeps_the_capture(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    pay(user_client, invoice)
    fake_stripe.fail_next(10)

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api_client, payment_body(invoice))

    assert response.json()["status"] == "success"
    paid = Invoice.objects.get(pk=invoice.pk)
    assert (paid.status, paid.total) == ("paid", Decimal("120.98"))


def paid_elsewhere(how: str, api_client, invoice, settings) -> None:
    """The invoice paid through the payment webhook, or on the test provider's page."""
    if how == "payment webhook":
        deliver(api_client, payment_body(invoice))
        return
    settings.PAYMENTS_TEST_MODE = True
    _, token = test_mode.checkout_page_open(invoice_id=invoice.pk, user_id=invoice.user_id)
    test_mode.checkout_page_pay(invoice_id=invoice.pk, user_id=invoice.user_id, form_token=token)


@pytest.mark.parametrize("how", ["payment webhook", "test provider"])
def test_a_session_stripe_could_not_end_after_the_capture_is_ended_by_reconcile(
    how, user_client, api_client, invoice, fake_stripe, settings, django_capture_on_commit_callbacks
):
    """Before, Stripe failing right after the capture was only logged, and no run asked
    again: the customer's Stripe tab took a second payment for the paid invoice until the
    session's own end (24 h). Stripe failing again is a Stripe error of the run (exit 3)."""
    session = pay(user_client, invoice).json()["session_id"]
    fake_stripe.fail_next(10)
    with django_capture_on_commit_callbacks(execute=True):
        paid_elsewhere(how, api_client, invoice, settings)
    still_down, down_code = reconcile()
    fake_stripe.fail_next(0)

    report, code = reconcile()
    again, again_code = reconcile()

    assert (down_code, f"{invoice.number}: " in " ".join(still_down["stripe_errors"])) == (3, True)
    assert fake_stripe.sessions[session]["status"] == "expired"
    assert (code, report["stripe_sessions_expired"], report["stripe_errors"]) == (0, 1, [])
    assert (again_code, again["stripe_sessions_expired"]) == (0, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_a_stripe_payment_found_by_the_retried_expiry_is_listed_for_review(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    session = pay(user_client, invoice).json()["session_id"]
    fake_stripe.fail_next(10)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    fake_stripe.fail_next(0)
    fake_stripe.complete(session)  # the second payment, in the Stripe tab

    report, code = reconcile()
    again, _ = reconcile()

    assert code == 0
    assert f"{invoice.number}: " in " ".join(report["needs_review"])
    assert (again["stripe_sessions_expired"], again["payments_needing_review"]) == (0, 1)
    assert PaymentEvent.objects.filter(provider="stripe", invoice=invoice).count() == 1


@pytest.mark.parametrize("how", ["payment webhook", "staff"])
def test_a_session_ended_with_the_capture_is_not_asked_about_again(
    how, user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    pay(user_client, invoice)
    with django_capture_on_commit_callbacks(execute=True):
        if how == "staff":
            services.invoice_mark_paid(invoice_id=invoice.pk, payment_reference="bank-1")
        else:
            deliver(api_client, payment_body(invoice))
    asked = len(fake_stripe.requests)

    report, code = reconcile()

    assert (code, report["stripe_sessions_expired"]) == (0, 0)
    assert [r.path for r in fake_stripe.requests[asked:] if "/checkout/" in r.path] == []


def flagged_payment(fake_stripe, session: str) -> tuple:
    """The Stripe payment of `session` flagged for a person: its invoice and payment."""
    event = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    return (event.invoice_id, event.payment_reference, event.handled_at)


def test_a_stripe_payment_whose_webhook_was_lost_after_the_capture_is_flagged_by_reconcile(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    """The customer paid in the Stripe tab as the payment webhook captured the invoice; the
    capture's expiry found the session complete, and Stripe's webhook never came. Before,
    that was one log line: no run asked Stripe again, and the second payment was kept."""
    session = pay(user_client, invoice).json()["session_id"]
    fake_stripe.complete(session)  # its checkout.session.completed is lost
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))

    report, code = reconcile()
    again, again_code = reconcile()

    intent = fake_stripe.sessions[session]["payment_intent"]
    assert flagged_payment(fake_stripe, session) == (invoice.pk, intent, None)
    assert (code, report["payments_needing_review"]) == (0, 1)
    assert (again_code, again["payments_needing_review"]) == (0, 1)
    assert f"{invoice.number}: " in " ".join(report["needs_review"])
    paid = Invoice.objects.get(pk=invoice.pk)
    assert (paid.status, paid.provider) == ("paid", "payment")


def test_a_stripe_payment_on_a_session_that_ended_before_stripe_answered_again_is_flagged(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    """Stripe was down when the capture asked it to end the session, and its own end came
    before the next run: before, the run asked only about sessions still running, so a
    payment taken meanwhile, its webhook lost, was never found."""
    session = pay(user_client, invoice).json()["session_id"]
    fake_stripe.fail_next(10)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    fake_stripe.fail_next(0)
    fake_stripe.complete(session)  # the second payment; its webhook is lost

    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        report, code = reconcile()

    intent = fake_stripe.sessions[session]["payment_intent"]
    assert flagged_payment(fake_stripe, session) == (invoice.pk, intent, None)
    assert (code, report["payments_needing_review"]) == (0, 1)


def test_a_stripe_payment_its_webhook_flagged_is_not_flagged_again_by_reconcile(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    assert stripe_says(api_client, fake_stripe, completed) == "needs_review"

    report, code = reconcile()
    again, _ = reconcile()

    assert (code, report["payments_needing_review"], again["payments_needing_review"]) == (0, 1, 1)
    assert PaymentEvent.objects.filter(provider="stripe").count() == 1
    assert again["stripe_sessions_expired"] == 0


def test_a_bank_debit_on_its_way_is_asked_about_until_it_succeeds_then_flagged(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    """A debit takes days: the run before it succeeds has nothing to flag, and must ask again
    rather than record the session ended."""
    session = pay(user_client, invoice).json()["session_id"]
    fake_stripe.complete_unpaid(session)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    on_its_way, _ = reconcile()
    fake_stripe.sessions[session]["payment_status"] = "paid"  # its webhook is lost
    fake_stripe.payment_succeeded(fake_stripe.sessions[session])

    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        report, code = reconcile()

    assert on_its_way["payments_needing_review"] == 0
    intent = fake_stripe.sessions[session]["payment_intent"]
    assert flagged_payment(fake_stripe, session) == (invoice.pk, intent, None)
    assert (code, report["payments_needing_review"]) == (0, 1)


def test_a_late_webhook_of_a_payment_reconcile_flagged_is_not_a_second_review(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    """Reconcile flagged the second payment its webhook had not told of; Stripe's webhook
    then came after all. It is the same payment: the operator must see one record to settle,
    not two (before, the late webhook made a second `needs_review`)."""
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)  # its webhook comes only after the run
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    reconcile()

    late = stripe_says(api_client, fake_stripe, completed)
    report, code = reconcile()

    reviews = PaymentEvent.objects.filter(provider="stripe", outcome="needs_review")
    assert [event.event_id for event in reviews] == [f"session_paid:{session}"]
    assert late == "already_processed"
    assert (code, report["payments_needing_review"]) == (0, 1)


def test_staff_re_processing_the_record_reconcile_made_still_flag_it_for_review(
    user_client, api_client, invoice, fake_stripe, django_capture_on_commit_callbacks
):
    session = pay(user_client, invoice).json()["session_id"]
    fake_stripe.complete(session)  # its checkout.session.completed is lost
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    reconcile()
    found = PaymentEvent.objects.get(provider="stripe", event_id=f"session_paid:{session}")

    outcome = payment_event_reprocess(event_id=found.pk)

    report, _ = reconcile()
    assert outcome == "needs_review"
    assert report["payments_needing_review"] == 1
