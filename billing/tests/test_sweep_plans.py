"""The periodic reads of billing's sweeps take an index, not the whole table: each EXPLAINs
the statements the sweep sent (PostgreSQL's planner; its plan text is PostgreSQL's)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import ItemStatus, Subscription
from billing.services.reconcile import (
    ReconcileReport,
    ended_subscriptions_expire,
    paid_invoices_verify,
)
from catalog.models import Currency

pytestmark = pytest.mark.django_db

ENDED = 60_000
RUNNING = 3_000
DUE = 5


def plans_of(queries: list[dict], marker: str) -> list[str]:
    """The plans of the captured statements whose SQL holds `marker`."""
    plans = []
    for query in queries:
        if marker in query["sql"]:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans, f"no statement with {marker}"
    return plans


def _periods(like: Subscription) -> None:
    """Periods as a service that has run a while has them: most ended long ago (expired, their
    end past), some running, DUE ending now. Copies of `like` (its invoice, plan, user)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_subscription (id, plan_name, billing_period, price, status, "
            "starts_at, expires_at, created_at, updated_at, invoice_id, plan_id, user_id, "
            "included_tokens, usage_mode) "
            "SELECT gen_random_uuid(), plan_name, billing_period, price, "
            "CASE WHEN g <= %s THEN 'active' ELSE 'expired' END, starts_at - interval '1 year', "
            "CASE WHEN g <= %s THEN now() - interval '1 minute' "
            "WHEN g <= %s THEN now() + g * interval '1 minute' "
            "ELSE now() - g * interval '1 minute' END, created_at, updated_at, invoice_id, "
            "plan_id, user_id, included_tokens, usage_mode "
            "FROM billing_subscription, generate_series(1, %s) g WHERE id = %s",
            [RUNNING + DUE, DUE, RUNNING + DUE, ENDED + RUNNING + DUE, like.pk],
        )
        cursor.execute("ANALYZE billing_subscription")


def test_the_minutes_expiry_sweep_reads_the_active_periods_by_their_end(paid):
    """Each minute it read pages of ORDER BY id LIMIT 500 of active periods whose end has
    passed: with most periods ended (their end past, expired), PostgreSQL took "active" and
    "ended" as unrelated, expected thousands where there are a few, and walked the primary key
    through the whole table (150,000 periods: 150,295 rows read and dropped for 5)."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ")
    _periods(paid.invoice.subscriptions.get())

    with CaptureQueriesContext(connection) as queries:
        expired = ended_subscriptions_expire()

    assert expired == DUE
    assert Subscription.objects.filter(status=ItemStatus.EXPIRED).count() == ENDED + DUE
    pages = 'FROM "billing_subscription" WHERE ("billing_subscription"."expires_at" <='
    for plan in plans_of(queries, pages):
        assert "billing_subscription_pkey" not in plan, plan
        assert "billing_plan_active_end" in plan, plan


PAID_BEFORE = 60_000
PAID_TODAY = 3


def _stripe_payments(user) -> None:
    """A year of payments through Stripe (a tenth through the payment webhook), PAID_TODAY of
    them in the last hours, the rest days old."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_invoice (id, number, status, subtotal, total, provider, "
            "payment_reference, idempotency_key, created_at, updated_at, paid_at, currency_id, "
            "user_id, stripe_session_id, stripe_session_url) "
            "SELECT gen_random_uuid(), 'S-' || g, 'paid', 10, 10, "
            "CASE WHEN g %% 10 = 0 THEN 'payment' ELSE 'stripe' END, 'pi_s' || g, '', "
            "now() - interval '1 year', now(), CASE WHEN g <= %s THEN now() - g * interval "
            "'1 hour' ELSE now() - interval '2 days' - g * interval '8 minutes' END, %s, %s, "
            "'', '' FROM generate_series(1, %s) g",
            [PAID_TODAY, Currency.objects.first().pk, user.pk, PAID_BEFORE + PAID_TODAY],
        )
        cursor.execute("ANALYZE billing_invoice")


def test_the_runs_check_of_the_days_stripe_payments_reads_them_by_their_time(user, fake_stripe):
    """No index led with `paid_at`: each hourly run read the whole invoice table (200,000
    invoices: a parallel seq scan, 169,869 rows read and dropped for 432)."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ")
    _stripe_payments(user)
    report = ReconcileReport(dry_run=True)

    with CaptureQueriesContext(connection) as queries:
        paid_invoices_verify(report, paid_within=timedelta(hours=24))

    assert report.paid_invoices_verified == PAID_TODAY
    for plan in plans_of(queries, '"paid_at" >='):
        assert "Seq Scan" not in plan, plan
        assert "billing_invoice_pkey" not in plan, plan
        assert "billing_invoice_stripe_paid" in plan, plan
