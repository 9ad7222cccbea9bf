"""Invoice numbers across New Year on PostgreSQL: a checkout waiting for its year's number
while the clock passes midnight (real threads, the clock injected)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connections

from accounts.tests.factories import UserFactory
from billing.models import Invoice, InvoiceSequence
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER_LOCK = "SELECT 1 FROM billing_invoicesequence WHERE year = %s FOR UPDATE"


def test_a_checkout_waiting_for_its_number_past_midnight_takes_the_new_years_number():
    """Another checkout holds 2026's last number at 23:59:59; this one, started then, gets
    it after midnight. Its invoice is dated 1 January 2027, so it is the first of 2027 (the
    contract: numbers per calendar year), and 2026's series loses no number to it."""
    user, bundle = UserFactory(), TokenBundleFactory()
    InvoiceSequence.objects.create(year=2026, last_number=41)
    answers: dict[str, object] = {}

    def order() -> None:
        try:
            answers["checkout"] = checkout(user, bundles=[bundle])
        except Exception as error:  # the test reports what the checkout raised
            answers["checkout"] = error
        finally:
            connections.close_all()

    with time_machine.travel(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), tick=False) as clock:
        with row_locked(NUMBER_LOCK, [2026]):
            ordering = threading.Thread(target=order)
            ordering.start()
            wait_until(lambda: sessions_waiting_on_a_lock() > 0)
            clock.move_to(datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC))
        ordering.join()

    invoice = Invoice.objects.get(user=user)
    assert (invoice.number, invoice.created_at.year) == ("INV-2027-000001", 2027), answers
    assert InvoiceSequence.objects.get(year=2026).last_number == 41
