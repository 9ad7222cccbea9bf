import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from billing import services, signals
from billing.models import (
    AddOnSubscription,
    Invoice,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.tests.helpers import checkout, deliver, payment_body
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.locks import exclusive_lock
from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from common.tests.servers import database_url, the_test_database
from events.models import Event
from tokens.models import TokenAccount, TokenTransaction

pytestmark = pytest.mark.django_db


def reconcile(*options: str) -> tuple[dict, int]:
    out = StringIO()
    try:
        call_command("reconcile_purchases", "--json", *options, stdout=out)
        code = 0
    except CommandError as error:
        code = error.returncode
    text = out.getvalue()
    return (json.loads(text) if text.strip() else {}), code


@pytest.fixture
def bundle():
    return TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))


def with_stripe_session(invoice, fake_stripe, user_client, *, age: timedelta) -> str:
    session = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"})
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_session_created_at=timezone.now() - age, created_at=timezone.now() - age
    )
    return session.json()["session_id"]


def test_a_paid_invoice_whose_tokens_were_not_credited_is_completed_once(user, bundle):
    """Marked paid by hand in the database, so nothing was delivered."""
    invoice = checkout(user, plan=PlanFactory(), bundles=[bundle]).invoice
    Invoice.objects.filter(pk=invoice.pk).update(
        status="paid", paid_at=timezone.now(), provider="payment", payment_reference="p"
    )
    assert TokenBundlePurchase.objects.get(invoice=invoice).status == "pending"

    first, code = reconcile()
    second, _ = reconcile()

    assert (code, first["paid_invoices_completed"], second["paid_invoices_completed"]) == (0, 1, 0)
    assert TokenBundlePurchase.objects.get(invoice=invoice).status == "completed"
    assert TokenAccount.objects.get(user=user).balance == 1000
    assert TokenTransaction.objects.filter(transaction_type="purchase").count() == 1


def test_a_capture_that_failed_is_completed_from_stripe_once(
    user, user_client, bundle, fake_stripe
):
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=2))
    body, header = fake_stripe.signed(fake_stripe.complete(session))

    def broken(sender, **kwargs):
        raise RuntimeError("a receiver is down")

    signals.invoice_paid.connect(broken, dispatch_uid="test.broken")
    try:
        delivered = Client(raise_request_exception=False).post(
            "/api/v1/webhooks/stripe",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
    finally:
        signals.invoice_paid.disconnect(dispatch_uid="test.broken")
    assert delivered.status_code == 500
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"

    first, _ = reconcile()
    second, _ = reconcile()

    assert (first["invoices_captured"], second["invoices_captured"]) == (1, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert TokenAccount.objects.get(user=user).balance == 1000
    assert TokenTransaction.objects.filter(transaction_type="purchase").count() == 1


def test_expired_and_too_old_sessions_are_cancelled_young_open_ones_kept(
    user, user_client, bundle, fake_stripe
):
    expired = checkout(user, bundles=[bundle]).invoice
    fake_stripe.expire(
        with_stripe_session(expired, fake_stripe, user_client, age=timedelta(hours=2))
    )
    too_old = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(too_old, fake_stripe, user_client, age=timedelta(hours=80))
    open_young = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(open_young, fake_stripe, user_client, age=timedelta(hours=3))
    fresh = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(fresh, fake_stripe, user_client, age=timedelta(minutes=10))

    report, _ = reconcile()

    assert (report["stripe_sessions_checked"], report["invoices_cancelled"]) == (3, 2)
    statuses = {i.pk: i.status for i in Invoice.objects.all()}
    assert [statuses[i.pk] for i in (expired, too_old, open_young, fresh)] == [
        "cancelled",
        "cancelled",
        "pending",
        "pending",
    ]
    # The too old invoice's session was still open: Stripe no longer takes a payment on it.
    too_old_session = Invoice.objects.get(pk=too_old.pk).stripe_session_id
    assert fake_stripe.sessions[too_old_session]["status"] == "expired"


def test_a_too_old_invoice_whose_payment_is_on_its_way_is_kept(
    user, user_client, bundle, fake_stripe
):
    """A bank debit completes its session unpaid; the money comes days later."""
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=80))
    fake_stripe.sessions[session].update(status="complete", payment_status="unpaid")

    report, code = reconcile()

    assert (code, report["invoices_cancelled"]) == (0, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"


def test_an_invoice_whose_session_stripe_does_not_know_is_cancelled_once_too_old(
    user, user_client, bundle, fake_stripe
):
    """Sessions made with the other mode's keys (test or live) before they were switched.
    Before, each run reported a Stripe error for them (exit 3) and they stayed pending."""
    too_old = checkout(user, bundles=[bundle]).invoice
    del fake_stripe.sessions[
        with_stripe_session(too_old, fake_stripe, user_client, age=timedelta(hours=80))
    ]
    young = checkout(user, bundles=[bundle]).invoice
    del fake_stripe.sessions[
        with_stripe_session(young, fake_stripe, user_client, age=timedelta(hours=3))
    ]

    report, code = reconcile()

    assert (code, report["stripe_errors"], report["invoices_cancelled"]) == (0, [], 1)
    assert Invoice.objects.get(pk=too_old.pk).status == "cancelled"
    assert TokenBundlePurchase.objects.get(invoice=too_old).status == "cancelled"
    assert Invoice.objects.get(pk=young.pk).status == "pending"


def test_options_change_the_windows(user, user_client, bundle, fake_stripe):
    invoice = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(minutes=40))

    untouched, _ = reconcile()
    cancelled, _ = reconcile("--older-than", "30m", "--expire-after", "35m")

    assert untouched["stripe_sessions_checked"] == 0
    assert cancelled["invoices_cancelled"] == 1


def test_stripe_down_is_reported_and_changes_nothing(user, user_client, bundle, fake_stripe):
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=80))
    fake_stripe.complete(session)
    fake_stripe.fail_next(10)
    before = database_state()

    report, code = reconcile()

    assert code == 3
    assert report["stripe_errors"] == [
        f"{invoice.number}: The payment provider could not be reached; nothing was charged. Retry.",
        "Stripe events: Stripe could not list its events.",
    ]
    assert (report["invoices_captured"], report["invoices_cancelled"]) == (0, 0)
    assert database_state() == before


ANSWER = {"request_fingerprint": "f", "response_status": 201, "response_body": {}}


def test_idempotency_records_older_than_a_day_are_purged(user):
    old = IdempotencyRecord.objects.create(user=user, key="old", **ANSWER)
    IdempotencyRecord.objects.create(user=user, key="new", **ANSWER)
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    report, _ = reconcile()

    assert report["idempotency_records_purged"] == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_ended_subscriptions_expire(user):
    invoice = checkout(user, plan=PlanFactory()).invoice
    services.invoice_capture(invoice_id=invoice.pk, payment_reference="p", provider="payment")
    Subscription.objects.update(expires_at=timezone.now() - timedelta(days=1))

    report, _ = reconcile()

    assert report["subscriptions_expired"] == 1
    assert Subscription.objects.get().status == "expired"


def test_dry_run_changes_nothing_and_says_what_it_would_do(user, user_client, bundle, fake_stripe):
    invoice = checkout(user, bundles=[bundle]).invoice
    fake_stripe.complete(
        with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=2))
    )
    old = IdempotencyRecord.objects.create(user=user, key="old", **ANSWER)
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=30)
    )
    before = database_state()

    report, code = reconcile("--dry-run")

    assert code == 0
    assert report["dry_run"] is True
    assert (report["invoices_captured"], report["idempotency_records_purged"]) == (1, 1)
    assert database_state() == before


def test_a_second_run_right_after_finds_nothing_to_do(user, user_client, bundle, fake_stripe):
    invoice = checkout(user, bundles=[bundle]).invoice
    fake_stripe.complete(
        with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=2))
    )
    call_command("reconcile_purchases", stdout=StringIO())
    out = StringIO()

    call_command("reconcile_purchases", stdout=out)

    assert "Nothing to do." in out.getvalue()


def test_the_summary_table_names_every_step(user):
    out = StringIO()

    call_command("reconcile_purchases", "--dry-run", stdout=out)

    for label in ["Paid invoices completed", "Stripe sessions checked", "Idempotency records"]:
        assert label in out.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
def test_a_second_run_at_the_same_time_exits_saying_so():
    with exclusive_lock("reconcile_purchases") as held:
        assert held
        with pytest.raises(CommandError, match="Another reconcile_purchases is running") as busy:
            call_command("reconcile_purchases", stdout=StringIO())

    assert busy.value.returncode == 2


def delivered(fake_stripe, event: dict) -> str:
    """Delivers a Stripe event to the webhook; its outcome."""
    body, header = fake_stripe.signed(event)
    response = Client().post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    return response.json()["outcome"]


def paid_with_stripe(user, user_client, bundle, fake_stripe) -> Invoice:
    """An invoice paid through Stripe Checkout and captured by its webhook."""
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(minutes=5))
    assert delivered(fake_stripe, fake_stripe.complete(session)) == "processed"
    return Invoice.objects.get(pk=invoice.pk)


def test_a_paid_invoice_stripe_does_not_know_is_reported_and_nothing_changes(
    user, user_client, bundle, fake_stripe
):
    known = paid_with_stripe(user, user_client, bundle, fake_stripe)
    forged = checkout(user, bundles=[bundle]).invoice
    services.invoice_capture(
        invoice_id=forged.pk, payment_reference="pi_never_seen", provider="stripe"
    )
    before = database_state()

    report, code = reconcile()

    assert code == 4
    assert report["paid_invoices_verified"] == 2
    assert report["unknown_to_provider"] == [
        f"{forged.number}: paid here with pi_never_seen; Stripe does not know this payment"
    ]
    assert known.number not in json.dumps(report)
    assert database_state() == before


def test_a_404_that_is_not_stripes_answer_is_an_error_not_an_unknown_payment(
    user, user_client, bundle, fake_stripe, settings
):
    """A 404 without Stripe's `resource_missing` (a wrong STRIPE_API_BASE, a proxy's page)
    says nothing about the payment: told as "Stripe does not know this payment", every paid
    invoice would look captured without a payment, and the night's operator would chase a
    fraud that is a typo."""
    paid = paid_with_stripe(user, user_client, bundle, fake_stripe)
    settings.STRIPE_API_BASE = f"{fake_stripe.base}/elsewhere"

    report, code = reconcile()

    assert code == 3
    assert report["unknown_to_provider"] == []
    assert [line.split(":")[0] for line in report["stripe_errors"]] == [
        "Stripe events",
        paid.number,
    ]


def test_a_payment_stripe_took_for_another_amount_or_did_not_complete_is_reported(
    user, user_client, bundle, fake_stripe
):
    short = paid_with_stripe(user, user_client, bundle, fake_stripe)
    fake_stripe.payment_intents[short.payment_reference]["amount_received"] = 100
    failed = paid_with_stripe(user, user_client, bundle, fake_stripe)
    fake_stripe.payment_intents[failed.payment_reference]["status"] = "requires_payment_method"
    fake_stripe.payment_intents[failed.payment_reference]["amount_received"] = 0

    report, code = reconcile()

    assert code == 4
    assert sorted(report["unknown_to_provider"]) == sorted(
        [
            f"{short.number}: paid here with {short.payment_reference} for 500 USD; "
            "Stripe says succeeded, 100 USD",
            f"{failed.number}: paid here with {failed.payment_reference} for 500 USD; "
            "Stripe says requires_payment_method, 0 USD",
        ]
    )


def payments_asked(fake_stripe) -> int:
    return sum(asked.path.startswith("/v1/payment_intents/") for asked in fake_stripe.requests)


def test_only_invoices_paid_through_stripe_within_the_window_are_asked_about(
    user, user_client, bundle, fake_stripe
):
    old = paid_with_stripe(user, user_client, bundle, fake_stripe)
    Invoice.objects.filter(pk=old.pk).update(paid_at=timezone.now() - timedelta(hours=30))
    capture_with_webhook = checkout(user, bundles=[bundle]).invoice
    services.invoice_capture(
        invoice_id=capture_with_webhook.pk, payment_reference="p-1", provider="payment"
    )
    asked = payments_asked(fake_stripe)

    default, _ = reconcile()
    wider, _ = reconcile("--verify-paid-within", "2d")

    assert default["paid_invoices_verified"] == 0
    assert wider["paid_invoices_verified"] == 1
    assert payments_asked(fake_stripe) - asked == 1


def test_a_refund_whose_webhook_was_lost_is_applied_once(user, user_client, bundle, fake_stripe):
    """Refunded in Stripe's dashboard; its `charge.refunded` never arrived. The PaymentIntent
    stays `succeeded`, so before, reconciliation found nothing: the invoice stayed paid and
    its tokens spendable though the money had gone back."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    lost = fake_stripe.refunded(invoice.stripe_session_id)
    before = database_state()

    dry_run, _ = reconcile("--dry-run")
    assert (dry_run["invoices_refunded"], database_state()) == (1, before)

    first, code = reconcile()
    second, _ = reconcile()

    assert (code, first["invoices_refunded"], second["invoices_refunded"]) == (0, 1, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    assert TokenAccount.objects.get(user=user).balance == 0
    assert TokenTransaction.objects.filter(transaction_type="reversal").count() == 1
    assert delivered(fake_stripe, lost) == "already_processed"
    assert TokenTransaction.objects.filter(transaction_type="reversal").count() == 1


def test_a_partial_refund_whose_webhook_was_lost_is_listed_and_changes_nothing(
    user, user_client, bundle, fake_stripe
):
    """Only whole refunds are applied, as by the webhook, which flags a partial one for a
    person. With that webhook lost, the person hears of it from reconciliation instead."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    reference = Invoice.objects.get(pk=invoice.pk).payment_reference
    before = database_state()

    report, code = reconcile()

    assert (code, report["invoices_refunded"]) == (0, 0)
    assert report["needs_review"] == [
        f"{invoice.number}: Stripe has refunded 100 of 500 USD of {reference}, and no "
        "charge.refunded webhook told of it; only whole refunds are applied here."
    ]
    assert database_state() == before


def test_a_partial_refund_whose_webhook_came_is_listed_once(user, user_client, bundle, fake_stripe):
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    event = fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    assert delivered(fake_stripe, event) == "needs_review"

    report, _ = reconcile()

    assert report["needs_review"] == [
        f"stripe event {event['id']} (charge.refunded): Partly refunded (100 of 500); "
        "only whole refunds are applied here."
    ]


def test_a_further_partial_refund_whose_webhook_was_lost_is_listed(
    user, user_client, bundle, fake_stripe
):
    """The webhook of a first partial refund came (and a person may have settled it); the
    one of a second was lost. Stripe now has refunded more than any webhook told of: that
    is listed, as the second webhook would have flagged it."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    first = fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    assert delivered(fake_stripe, first) == "needs_review"
    fake_stripe.refunded(invoice.stripe_session_id, amount=300)
    reference = Invoice.objects.get(pk=invoice.pk).payment_reference

    report, _ = reconcile()

    assert report["needs_review"] == [
        f"{invoice.number}: Stripe has refunded 300 of 500 USD of {reference}, and no "
        "charge.refunded webhook told of it; only whole refunds are applied here.",
        f"stripe event {first['id']} (charge.refunded): Partly refunded (100 of 500); "
        "only whole refunds are applied here.",
    ]


def test_payment_events_flagged_for_review_are_counted_and_listed(
    user, user_client, bundle, fake_stripe
):
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    event = fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    assert delivered(fake_stripe, event) == "needs_review"
    before = database_state()

    report, code = reconcile()

    assert code == 0
    assert report["payments_needing_review"] == 1
    assert report["needs_review"] == [
        f"stripe event {event['id']} (charge.refunded): Partly refunded (100 of 500); "
        "only whole refunds are applied here."
    ]
    assert database_state() == before


def test_a_run_on_a_clean_database_changes_nothing(user, user_client, staff_user, fake_stripe):
    """Paid, refunded, cancelled and young pending invoices, an active plan, ledger entries,
    idempotency records and processed events: nothing for reconciliation to do, and it does
    nothing."""
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    paid_with_stripe(user, user_client, bundle, fake_stripe)
    plan_invoice = checkout(user, plan=PlanFactory(), bundles=[bundle]).invoice
    services.invoice_capture(invoice_id=plan_invoice.pk, payment_reference="p", provider="payment")
    refunded = checkout(user, bundles=[bundle]).invoice
    services.invoice_capture(invoice_id=refunded.pk, payment_reference="r", provider="payment")
    services.invoice_refund(invoice_id=refunded.pk)
    services.invoice_cancel(invoice_id=checkout(user, bundles=[bundle]).invoice.pk)
    young = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(young, fake_stripe, user_client, age=timedelta(minutes=10))
    user_client.post("/api/v1/user/tokens/consume", {"amount": 7}, HTTP_IDEMPOTENCY_KEY="k")
    before = database_state()

    report, code = reconcile()

    assert code == 0
    assert report["paid_invoices_verified"] == 1
    assert report["unknown_to_provider"] == report["needs_review"] == []
    assert database_state() == before


def test_a_too_old_invoice_whose_bank_debit_failed_is_cancelled(
    user, user_client, bundle, fake_stripe
):
    """Kept for ever as a payment on its way: its session stays complete at Stripe."""
    invoice = checkout(user, bundles=[bundle]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=80))
    fake_stripe.complete_unpaid(session)
    fake_stripe.debit_failed(session)

    report, code = reconcile()

    assert (code, report["invoices_cancelled"]) == (0, 1)
    assert Invoice.objects.get(pk=invoice.pk).status == "cancelled"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        # OverflowError in timedelta: a traceback, exit code 1.
        ("--older-than", "10000000000000h"),
        # A date before year 1 in the Stripe step, once a session was old enough: exit code 5.
        ("--expire-after", "999999d"),
        ("--verify-paid-within", "3651d"),
        # 0 asked Stripe about sessions opened a moment ago; --expire-after 0s cancelled every
        # invoice it asked about, expiring sessions that customers still had open.
        ("--older-than", "0h"),
        ("--expire-after", "0s"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_a_duration_out_of_range_is_a_usage_error_naming_its_option(option, value):
    result = subprocess.run(
        [sys.executable, "manage.py", "reconcile_purchases", "--dry-run", option, value],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url(**the_test_database())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0].startswith("usage: manage.py reconcile_purchases")
    assert f"error: argument {option}: {value!r} is not a duration from 1s to 3650d" in (
        result.stderr
    )


def test_the_longest_durations_reconcile(user, user_client, bundle, fake_stripe):
    invoice = checkout(user, bundles=[bundle]).invoice
    with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(days=3651))

    report, code = reconcile(
        "--older-than", "3650d", "--expire-after", "3650d", "--verify-paid-within", "3650d"
    )

    assert (code, report["stripe_sessions_checked"], report["invoices_cancelled"]) == (0, 1, 1)


def test_a_subscription_is_recorded_expired_at_its_end_instant(user):
    """A period ends exactly at `expires_at` (usage stops being covered, the subscription is
    no longer current): the sweep running at that instant records it and says so."""
    start = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        invoice = checkout(user, plan=PlanFactory(billing_period="monthly")).invoice
        services.invoice_capture(invoice_id=invoice.pk, payment_reference="p", provider="payment")
        clock.move_to(Subscription.objects.get().expires_at)

        report, _ = reconcile()

    assert report["subscriptions_expired"] == 1
    assert Subscription.objects.get().status == "expired"
    assert Event.objects.get(type="subscription.expired").data["expires_at"] == (
        "2026-02-28T10:00:00Z"
    )


def test_the_expiry_of_a_plan_cancels_the_add_on_checkouts_that_rely_on_it(user):
    """A checkout of add-ons alone relies on the user's plan. A refund of the plan cancelled
    such checkouts, its expiry did not: paid later, the add-ons were activated (and the
    customer charged) with no plan running."""
    plan = checkout(user, plan=PlanFactory()).invoice
    services.invoice_capture(invoice_id=plan.pk, payment_reference="plan", provider="payment")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    ended = Subscription.objects.get(invoice=plan).expires_at

    with time_machine.travel(ended, tick=False):
        report, _ = reconcile()

    assert report["subscriptions_expired"] == 1
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"


def test_an_add_on_checkout_paid_after_its_plan_ended_is_refused(api_client, user):
    """Paid between the plan's end and the sweep that records it: refused (409, the delivery
    flagged for a person to return the money) instead of add-ons with no plan running."""
    plan = checkout(user, plan=PlanFactory()).invoice
    services.invoice_capture(invoice_id=plan.pk, payment_reference="plan", provider="payment")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    ended = Subscription.objects.get(invoice=plan).expires_at

    with time_machine.travel(ended, tick=False):
        response = deliver(api_client, payment_body(add_ons))

    assert (response.status_code, response.json().get("code")) == (409, "invalid_state")
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "pending"
    assert PaymentEvent.objects.get(invoice=add_ons).outcome == "needs_review"
