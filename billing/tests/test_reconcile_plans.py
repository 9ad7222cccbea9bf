"""reconcile_purchases' hourly reads take an index, not the whole invoice table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import Invoice
from billing.services.invoices import cancelled_sessions_unconfirmed
from catalog.models import Currency

pytestmark = pytest.mark.django_db

CANCELLED = 5000


def _cancelled_invoices(user, *, count: int, unconfirmed: int) -> None:
    """`count` cancelled invoices half of them through Stripe, whose sessions were expired
    when cancelled, and `unconfirmed` whose sessions still run."""
    now = timezone.now()
    currency = Currency.objects.first()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_invoice (id, number, status, subtotal, total, provider, "
            "payment_reference, idempotency_key, created_at, updated_at, cancelled_at, "
            "currency_id, user_id, stripe_session_expires_at, stripe_session_id, "
            "stripe_session_url) "
            "SELECT gen_random_uuid(), 'C-' || g, 'cancelled', 10, 10, '', '', '', %s, %s, %s, "
            "%s, %s, CASE WHEN g %% 2 = 0 THEN %s END, "
            "CASE WHEN g %% 2 = 0 THEN 'cs_' || g ELSE '' END, '' "
            "FROM generate_series(1, %s) g",
            [now, now, now, currency.pk, user.pk, now - timedelta(hours=1), count],
        )
        cursor.execute("ANALYZE billing_invoice")
    later = now + timedelta(hours=20)
    running = Invoice.objects.exclude(stripe_session_id="").order_by("number")[:unconfirmed]
    Invoice.objects.filter(pk__in=list(running.values_list("pk", flat=True))).update(
        stripe_session_expires_at=later
    )


def test_cancelled_sessions_unconfirmed_reads_the_partial_index(user):
    """It ran once an hour over every cancelled invoice (a parallel scan of the whole table:
    200,000 cancelled and 200,000 paid, 8,087 pages, 76-103 ms, docs/decisions.md)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "EXPLAIN's plan is PostgreSQL's: SQLite's planner and its plan text differ, and the "
            "index was built for the PostgreSQL table scan measured above"
        )
    _cancelled_invoices(user, count=CANCELLED, unconfirmed=3)
    batch = cancelled_sessions_unconfirmed().order_by("pk").values_list("pk", flat=True)[:500]

    plan = batch.explain()

    assert len(batch) == 3
    assert "billing_cancelled_session" in plan, plan
