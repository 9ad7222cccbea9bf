"""The clock and renewal the test_add_ons_after_refund_* modules share."""

from datetime import UTC, datetime, timedelta
from functools import partial

import time_machine

from billing.models import Invoice, Subscription
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


REFUND_AT = START + timedelta(days=25)


def renewed(user, pay=None) -> tuple[Invoice, Subscription, Subscription]:
    """S1 paid at START (by `pay`, if given); add-ons checked out alone on day 10 (on S1); S1's
    plan paid again on day 20 (S2, waiting for S1's end). Returns the add-ons' pending
    invoice, S1 and S2."""
    plan = PlanFactory()
    with time_machine.travel(START, tick=False) as clock:
        first = checkout(user, plan=plan).invoice
        (pay or partial(capture, reference="plan-1"))(first)
        clock.move_to(START + timedelta(days=10))
        add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
        clock.move_to(START + timedelta(days=20))
        second = checkout(user, plan=plan).invoice
        capture(second, reference="plan-2")
    return (
        add_ons,
        Subscription.objects.get(invoice=first),
        Subscription.objects.get(invoice=second),
    )
