"""reconcile_purchases' hourly reads take an index, not the whole invoice table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Invoice
from billing.services.reconcile import ReconcileReport, unconfirmed_sessions_expire
from billing.services.sessions import ASKED_AFTER_ITS_END, sessions_unconfirmed
from catalog.models import Currency

pytestmark = pytest.mark.django_db

CANCELLED = 5000
PAID = 5000
PENDING = 50_000


def _invoices(user, *, count: int, unconfirmed: int, status: str = "cancelled") -> None:
    """`count` invoices cancelled (or paid through the payment webhook) half of them with a
    Stripe session: half of those confirmed ended (no time), half ended at Stripe long
    before the runs' look back (ASKED_AFTER_ITS_END), and `unconfirmed` whose sessions
    still run."""
    now = timezone.now()
    currency = Currency.objects.first()
    with connection.cursor() as cursor:
        paid = status != "cancelled"
        cursor.execute(
            "INSERT INTO billing_invoice (id, number, status, subtotal, total, provider, "
            "payment_reference, idempotency_key, created_at, updated_at, cancelled_at, "
            "paid_at, currency_id, user_id, stripe_session_expires_at, stripe_session_id, "
            "stripe_session_url) "
            "SELECT gen_random_uuid(), %s || g, %s, 10, 10, %s, "
            "CASE WHEN %s THEN 'pay-' || g ELSE '' END, '', %s, %s, %s, %s, "
            "%s, %s, CASE WHEN g %% 4 = 2 THEN %s END, "
            "CASE WHEN g %% 2 = 0 THEN 'cs_' || g ELSE '' END, '' "
            "FROM generate_series(1, %s) g",
            [
                *(f"{status[0].upper()}-", status, "payment" if paid else "", paid, now, now),
                *(None if paid else now, now if paid else None, currency.pk, user.pk),
                *(now - ASKED_AFTER_ITS_END - timedelta(hours=1), count),
            ],
        )
        cursor.execute("ANALYZE billing_invoice")
    later = now + timedelta(hours=20)
    sessions = Invoice.objects.filter(status=status).exclude(stripe_session_id="")
    running = sessions.order_by("number")[:unconfirmed]
    Invoice.objects.filter(pk__in=list(running.values_list("pk", flat=True))).update(
        stripe_session_expires_at=later
    )


def test_sessions_unconfirmed_reads_the_partial_indexes(user):
    """It ran once an hour over every cancelled invoice (a parallel scan of the whole table:
    200,000 cancelled and 200,000 paid, 8,087 pages, 76-103 ms, docs/decisions.md)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ, and the "
            "index was built for the PostgreSQL table scan measured above"
        )
    _invoices(user, count=CANCELLED, unconfirmed=3)
    _invoices(user, count=PAID, unconfirmed=2, status="paid")
    batch = sessions_unconfirmed().order_by("pk").values_list("pk", flat=True)[:500]

    plan = batch.explain()

    assert len(batch) == 5
    assert "billing_cancelled_session" in plan, plan
    assert "billing_paid_elsewhere_session" in plan, plan


def _pending_with_running_sessions(user, *, count: int) -> None:
    """`count` invoices waiting for their Stripe sessions, which still run: each has its
    `stripe_session_expires_at`, as every pending invoice with a session does."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_invoice (id, number, status, subtotal, total, provider, "
            "payment_reference, idempotency_key, created_at, updated_at, currency_id, user_id, "
            "stripe_session_expires_at, stripe_session_id, stripe_session_url) "
            "SELECT gen_random_uuid(), 'W-' || g, 'pending', 10, 10, '', '', '', %s, %s, %s, "
            "%s, %s, 'cs_w' || g, '' FROM generate_series(1, %s) g",
            [now, now, Currency.objects.first().pk, user.pk, now + timedelta(hours=20), count],
        )
        cursor.execute("ANALYZE billing_invoice")


def test_the_runs_read_of_unconfirmed_sessions_takes_the_partial_indexes_beside_pending_ones(
    user,
):
    """Every pending invoice with a session has its end set too, so PostgreSQL, taking a
    time set and a cancelled (or paid elsewhere) invoice as unrelated, expected thousands
    of rows where there are five; for a first page ordered by id (`ORDER BY id LIMIT 500`)
    it then walked the primary key through the whole table, each hour and each page. (On
    200,000 invoices a tenth pending was enough; here a smaller table, mostly pending, gets
    the same plan.)"""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ")
    _invoices(user, count=CANCELLED, unconfirmed=3)
    _invoices(user, count=PAID, unconfirmed=2, status="paid")
    _pending_with_running_sessions(user, count=PENDING)
    report = ReconcileReport(dry_run=True)

    with CaptureQueriesContext(connection) as queries:
        unconfirmed_sessions_expire(report)

    assert report.stripe_sessions_expired == 5
    looks = [q["sql"] for q in queries if 'stripe_session_expires_at" >' in q["sql"]]
    assert looks
    for look in looks:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {look}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "billing_invoice_pkey" not in plan, plan
        assert "billing_cancelled_session" in plan, plan
        assert "billing_paid_elsewhere_session" in plan, plan
