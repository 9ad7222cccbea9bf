"""A hold made under an unlimited plan that had already expired when the plan was refunded
stays expired: the refund releases the covered holds still active (docs/api.md), and a hold
past `expires_at` is expired from that instant, before the sweep records it (it answers
`status: "expired"`). The sweep then records it as expired and sends `hold.expired`."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing import services as billing_services
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from events.models import Event
from tokens import services
from tokens.models import Hold

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
HOLDS = "/api/v1/user/holds"


def test_a_covered_hold_expired_before_its_plans_refund_is_recorded_expired(user_client, user):
    with time_machine.travel(NOW, tick=False) as clock:
        order = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
        capture(order.invoice)
        expired = services.hold_create(user_id=user.pk, amount=100, ttl_seconds=60).hold
        live = services.hold_create(user_id=user.pk, amount=100, idempotency_key="live").hold
        clock.shift(timedelta(minutes=2))
        shown = user_client.get(f"{HOLDS}/{expired.pk}").json()["status"]

        billing_services.invoice_refund(invoice_id=order.invoice.pk)
        swept = services.holds_expire()

    assert shown == "expired"
    assert user_client.get(f"{HOLDS}/{expired.pk}").json()["status"] == "expired"
    assert Hold.objects.get(pk=live.pk).status == "released"
    assert swept == 1
    assert Event.objects.get(type="hold.expired").data["hold_id"] == str(expired.pk)
