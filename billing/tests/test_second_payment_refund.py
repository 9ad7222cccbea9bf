"""A second payment taken through a Stripe tab left open, for an invoice another provider
paid, is flagged for review (by its webhook, or by reconcile_purchases when that was lost);
staff return it from the payment events' admin, which settles its events saying so. Before,
they had to find the payment in Stripe's dashboard and refund it there by hand."""

import json
from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Invoice, PaymentEvent
from billing.services.reprocess import (
    payment_event_refund_at_stripe,
    payment_event_reprocess,
)
from billing.tests.helpers import checkout, deliver, payment_body
from billing.tests.pay.helpers import pay, stripe_says
from billing.tests.reconcile_helpers import reconcile
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

EVENTS = "admin:billing_paymentevent_changelist"


def refund_at_stripe(client, events: list, *, confirmed: bool = True):
    data = {"action": "refund_at_stripe", ACTION_CHECKBOX_NAME: [e.pk for e in events]}
    return client.post(
        reverse(EVENTS), {**data, **({"post": "yes"} if confirmed else {})}, follow=True
    )


@pytest.fixture
def second_payment(user, user_client, api_client, fake_stripe, django_capture_on_commit_callbacks):
    """An invoice paid through the payment webhook while its Stripe tab took a payment too,
    whose webhook was lost: reconcile_purchases flags it."""
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("45.99"))]).invoice
    session = pay(user_client, invoice).json()["session_id"]
    completed = fake_stripe.complete(session)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api_client, payment_body(invoice))
    reconcile()
    return invoice, completed


def test_staff_refund_a_second_payment_at_stripe_and_its_events_are_settled(
    staff_browser, api_client, fake_stripe, second_payment
):
    invoice, completed = second_payment
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    # Its webhook came late: the same payment, recorded as the one flagged already.
    assert stripe_says(api_client, fake_stripe, completed) == "already_processed"

    page = refund_at_stripe(staff_browser, [flagged])
    again = refund_at_stripe(staff_browser, [flagged])
    report, _ = reconcile()

    intent = completed["data"]["object"]["payment_intent"]
    assert [r["payment_intent"] for r in fake_stripe.refunds.values()] == [intent]
    assert "Refunded at Stripe" in page.content.decode()
    assert "settled" in again.content.decode()
    assert report["payments_needing_review"] == 0
    notes = PaymentEvent.objects.filter(provider="stripe", outcome="needs_review").values_list(
        "handled_note", flat=True
    )
    assert [note[:23] for note in notes] == ["Refunded at Stripe (re_"]
    paid = Invoice.objects.get(pk=invoice.pk)
    assert (paid.status, paid.provider) == ("paid", "payment")


def test_refund_at_stripe_asks_first_and_refunds_nothing_until_confirmed(
    staff_browser, fake_stripe, second_payment
):
    """Choosing the action returned the payment at once: one misclick refunded every
    event's payment ticked. It now asks, as Django's delete does."""
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    before = database_state()

    page = refund_at_stripe(staff_browser, [flagged], confirmed=False)

    assert page.status_code == 200
    assert database_state() == before
    assert fake_stripe.refunds == {}
    assert flagged.payment_reference in page.content.decode()
    assert 'name="post" value="yes"' in page.content.decode()

    refund_at_stripe(staff_browser, [flagged])

    assert len(fake_stripe.refunds) == 1


def test_a_payment_that_paid_an_invoice_here_is_not_refunded_from_its_event(
    staff_browser, api_client, user, user_client, fake_stripe
):
    """A partial refund's or a dispute's event names a payment that paid an invoice: its
    refund is the invoice's, which takes back what it bought too."""
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("45.99"))]).invoice
    session = pay(user_client, invoice).json()["session_id"]
    stripe_says(api_client, fake_stripe, fake_stripe.complete(session))
    assert stripe_says(api_client, fake_stripe, fake_stripe.refunded(session, amount=100)) == (
        "needs_review"
    )
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")

    page = refund_at_stripe(staff_browser, [flagged])

    assert f"paid invoice {invoice.number}" in page.content.decode()
    assert fake_stripe.refunds == {}
    assert PaymentEvent.objects.get(pk=flagged.pk).handled_at is None


def _session_of(completed: dict) -> str:
    return completed["data"]["object"]["id"]


def test_stripes_news_of_the_staff_refund_is_recorded_as_that_refund_once(
    staff_browser, api_client, fake_stripe, second_payment
):
    """Stripe's charge.refunded of a payment staff refunded from here was held for a
    capture that never comes, a record listed among those to act on."""
    _, completed = second_payment
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    refund_at_stripe(staff_browser, [flagged])
    news = fake_stripe.refunded(_session_of(completed))

    outcomes = [stripe_says(api_client, fake_stripe, news) for _ in range(2)]
    report, _ = reconcile()

    (refund,) = fake_stripe.refunds
    assert outcomes == ["already_processed", "already_processed"]
    recorded = PaymentEvent.objects.get(event_id=news["id"])
    assert (recorded.outcome, recorded.stripe_refund_id, recorded.deliveries) == (
        "already_processed",
        refund,
        2,
    )
    assert refund in recorded.error
    assert PaymentEvent.objects.get(pk=flagged.pk).stripe_refund_id == refund
    assert not PaymentEvent.objects.filter(outcome="held").exists()
    assert report["payments_needing_review"] == 0


def test_a_refund_made_in_stripes_dashboard_first_stays_held(
    staff_browser, api_client, fake_stripe, second_payment
):
    """Stripe's dashboard refunded it before staff asked here: Stripe refunds nothing more,
    and its news is not this service's refund."""
    _, completed = second_payment
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    news = fake_stripe.refunded(_session_of(completed))
    assert stripe_says(api_client, fake_stripe, news) == "held"

    page = refund_at_stripe(staff_browser, [flagged])

    assert "Stripe had refunded it already" in page.content.decode()
    assert fake_stripe.refunds == {}
    recorded = PaymentEvent.objects.get(event_id=news["id"])
    assert (recorded.outcome, recorded.stripe_refund_id) == ("held", "")
    assert PaymentEvent.objects.get(pk=flagged.pk).stripe_refund_id == ""


@pytest.mark.django_db(transaction=True)
def test_stripes_news_delivered_while_staff_wait_for_the_refund_is_that_refund(
    staff_user, api_client, fake_stripe, second_payment
):
    """Stripe sends charge.refunded as soon as it refunds: its delivery, in another
    thread with its own connection, is handled and committed before the admin's request,
    still waiting for Stripe's answer, has recorded anything. It was held, and stayed so."""
    _, completed = second_payment
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    meanwhile = {}

    def stripe_sends_its_news() -> None:
        try:
            news = fake_stripe.refunded(_session_of(completed))
            meanwhile["event_id"] = news["id"]
            meanwhile["outcome"] = stripe_says(APIClient(), fake_stripe, news)
        finally:
            connections.close_all()

    fake_stripe.on_next_refund(stripe_sends_its_news)

    note = payment_event_refund_at_stripe(event_id=flagged.pk, staff_id=staff_user.pk)

    (refund,) = fake_stripe.refunds
    assert note == f"Refunded at Stripe ({refund}) by staff."
    assert meanwhile["outcome"] == "held"  # nothing was recorded yet when it came
    recorded = PaymentEvent.objects.get(event_id=meanwhile["event_id"])
    assert (recorded.outcome, recorded.stripe_refund_id) == ("already_processed", refund)
    assert stripe_says(api_client, fake_stripe, json.loads(recorded.payload)) == (
        "already_processed"
    )


def test_a_refund_made_elsewhere_after_the_bank_refused_staffs_is_not_taken_for_it(
    staff_browser, api_client, fake_stripe, second_payment
):
    """The bank refused the staff refund (a closed card: flagged for a person), and the
    money was then returned from Stripe's dashboard: that news is not the staff refund's."""
    _, completed = second_payment
    session = _session_of(completed)
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    refund_at_stripe(staff_browser, [flagged])
    assert stripe_says(api_client, fake_stripe, fake_stripe.refunded(session)) == (
        "already_processed"
    )
    assert stripe_says(api_client, fake_stripe, fake_stripe.refund_failed(session)) == (
        "needs_review"
    )

    outcome = stripe_says(api_client, fake_stripe, fake_stripe.refunded(session))

    assert outcome == "held"


def test_a_staff_refund_recorded_before_its_id_was_is_found_by_its_note(
    staff_browser, staff_user, api_client, fake_stripe, second_payment
):
    """Refunded before migration 0011: its id only in the note, its news held. The
    backfill (0012) copies the id; re-processing the held news then records it as that
    refund. A note a person typed that only looks alike keeps no id."""
    _, completed = second_payment
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    refund_at_stripe(staff_browser, [flagged])
    (refund,) = fake_stripe.refunds
    PaymentEvent.objects.filter(pk=flagged.pk).update(stripe_refund_id="")
    news = fake_stripe.refunded(_session_of(completed))
    assert stripe_says(api_client, fake_stripe, news) == "held"
    typed = PaymentEvent.objects.create(
        provider="stripe",
        payload="{}",
        signature_valid=True,
        outcome="needs_review",
        handled_at=timezone.now(),
        handled_by=staff_user,
        handled_note="Refunded at Stripe (re_x) by staff. And emailed them.",
    )

    backfill = import_module("billing.migrations.0012_payment_event_stripe_refund_backfill")
    backfill.staff_refunds_backfill(django_apps, None)
    held = PaymentEvent.objects.get(event_id=news["id"])
    payment_event_reprocess(event_id=held.pk)

    assert PaymentEvent.objects.get(pk=flagged.pk).stripe_refund_id == refund
    assert PaymentEvent.objects.get(pk=typed.pk).stripe_refund_id == ""
    recorded = PaymentEvent.objects.get(pk=held.pk)
    assert (recorded.outcome, recorded.stripe_refund_id) == ("already_processed", refund)


def test_a_staff_refund_of_a_bank_debit_recorded_before_its_id_was_is_found_by_its_note(
    staff_user, second_payment
):
    """Stripe names the refunds of payments other than by card (a SEPA or ACH debit, which
    checkout takes, paid later: `py_` charges) `pyr_...`, not `re_...`: the backfill (0012)
    copies their ids too, or their news stays held for a capture that never comes."""
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    refund = "pyr_1LueedH8gEfhfk0tu1TyZSmU"
    PaymentEvent.objects.filter(pk=flagged.pk).update(
        handled_at=timezone.now(),
        handled_by=staff_user,
        handled_note=f"Refunded at Stripe ({refund}) by staff.",
    )

    backfill = import_module("billing.migrations.0012_payment_event_stripe_refund_backfill")
    backfill.staff_refunds_backfill(django_apps, None)

    assert PaymentEvent.objects.get(pk=flagged.pk).stripe_refund_id == refund


@pytest.mark.parametrize("refusal_first", [True, False], ids=["refusal-first", "refund-first"])
def test_a_dashboard_refund_after_the_bank_refused_staffs_is_not_taken_for_it_in_any_order(
    staff_browser, api_client, fake_stripe, second_payment, refusal_first
):
    """Stripe delivers in any order: the news of a refund made in its dashboard after the bank
    refused the staff refund may come before the refusal's. The staff refund had its news
    already, so this one is another refund's whichever comes first: it was taken for the
    staff refund's, and the refusal then asked a person to return money already returned."""
    _, completed = second_payment
    session = _session_of(completed)
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    refund_at_stripe(staff_browser, [flagged])
    (staff_refund,) = fake_stripe.refunds
    echo = fake_stripe.refunded(session)
    assert stripe_says(api_client, fake_stripe, echo) == "already_processed"
    refusal = fake_stripe.refund_failed(session)
    dashboard = fake_stripe.refunded(session)

    first, second = (refusal, dashboard) if refusal_first else (dashboard, refusal)
    outcomes = {e["id"]: stripe_says(api_client, fake_stripe, e) for e in (first, second)}

    assert outcomes == {refusal["id"]: "needs_review", dashboard["id"]: "held"}
    assert refusal["data"]["object"]["id"] == staff_refund
    recorded = PaymentEvent.objects.get(event_id=dashboard["id"])
    assert recorded.stripe_refund_id == ""
    assert PaymentEvent.objects.get(event_id=echo["id"]).stripe_refund_id == staff_refund


def test_the_staff_refunds_news_delivered_after_the_banks_refusal_of_it_is_still_its_news(
    staff_browser, api_client, fake_stripe, second_payment
):
    """The refusal's delivery overtook the refund's own news (created first at Stripe): that
    news is the staff refund's, not held for a capture that never comes."""
    _, completed = second_payment
    session = _session_of(completed)
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    refund_at_stripe(staff_browser, [flagged])
    (staff_refund,) = fake_stripe.refunds
    echo = fake_stripe.refunded(session)
    refusal = fake_stripe.refund_failed(session)
    refusal["created"] = echo["created"] + 3 * 24 * 3600
    assert stripe_says(api_client, fake_stripe, refusal) == "needs_review"

    outcome = stripe_says(api_client, fake_stripe, echo)

    assert outcome == "already_processed"
    assert PaymentEvent.objects.get(event_id=echo["id"]).stripe_refund_id == staff_refund


def test_a_refusal_of_another_refund_of_the_payment_does_not_hide_the_staff_refunds_news(
    staff_browser, api_client, fake_stripe, second_payment
):
    """Only the bank's refusal of the staff refund itself, by its id, says later news is of
    another refund: an earlier partial refund from the dashboard, refused, says nothing."""
    _, completed = second_payment
    session = _session_of(completed)
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    partial = fake_stripe.refunded(session, amount=100)
    assert stripe_says(api_client, fake_stripe, partial) == "needs_review"
    other = fake_stripe.refund_failed(session)
    other["created"] = partial["created"] - 60
    assert stripe_says(api_client, fake_stripe, other) == "needs_review"
    refund_at_stripe(staff_browser, [flagged])
    (staff_refund,) = fake_stripe.refunds

    outcome = stripe_says(api_client, fake_stripe, fake_stripe.refunded(session))

    assert outcome == "already_processed"
    assert other["data"]["object"]["id"] != staff_refund


def test_refunding_again_at_stripe_after_the_bank_refused_staffs_refund_makes_a_new_refund(
    staff_browser, api_client, fake_stripe, second_payment
):
    """The bank refused the staff refund (flagged for a person); refunding again from that
    flag sent Stripe the first refund's idempotency key, so Stripe answered with the refused
    refund again: nothing went back, yet the flag was settled as "Refunded at Stripe"."""
    _, completed = second_payment
    session = _session_of(completed)
    flagged = PaymentEvent.objects.get(provider="stripe", outcome="needs_review")
    refund_at_stripe(staff_browser, [flagged])
    (refused,) = fake_stripe.refunds
    stripe_says(api_client, fake_stripe, fake_stripe.refunded(session))
    refusal = fake_stripe.refund_failed(session)
    assert stripe_says(api_client, fake_stripe, refusal) == "needs_review"
    flag = PaymentEvent.objects.get(event_id=refusal["id"])

    page = refund_at_stripe(staff_browser, [flag])

    assert len(fake_stripe.refunds) == 2
    (again,) = set(fake_stripe.refunds) - {refused}
    assert f"Refunded at Stripe ({again})" in page.content.decode()
    news = fake_stripe.refunded(session)
    assert stripe_says(api_client, fake_stripe, news) == "already_processed"
    assert PaymentEvent.objects.get(event_id=news["id"]).stripe_refund_id == again
