import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing import services
from billing.tests.helpers import checkout
from billing.tests.reconcile_helpers import paid_with_stripe, reconcile, with_stripe_session
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from common.locks import exclusive_lock
from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from common.tests.servers import database_url, the_test_database

pytestmark = pytest.mark.django_db


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
