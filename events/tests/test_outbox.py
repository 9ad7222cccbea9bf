"""The outbox: an event row is written with the change that causes it, or not at all."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from billing import services as billing_services
from billing import signals
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from events.models import EVENT_TYPES, Delivery, Event
from events.services import Notice, endpoint_create, events_emit
from tokens import services as token_services
from tokens.ledger import Work
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def types() -> list[str]:
    return list(Event.objects.order_by("created_at", "type").values_list("type", flat=True))


def test_a_capture_emits_paid_purchased_and_activated_with_it(user):
    order = checkout(user, plan=PlanFactory(), bundles=[TokenBundleFactory(token_amount=40)])

    capture(order.invoice)

    assert sorted(types()) == sorted(
        ["invoice.created", "invoice.paid", "tokens.purchased", "subscription.activated"]
    )
    purchased = Event.objects.get(type="tokens.purchased")
    assert purchased.data["tokens"] == 40
    assert purchased.data["user_id"] == str(user.pk)


def test_an_event_of_a_rolled_back_capture_never_exists(user, loopback):
    endpoint_create(url="http://127.0.0.1:9/hooks", event_types=EVENT_TYPES)
    order = checkout(user, bundles=[TokenBundleFactory()])
    before = Event.objects.count()

    def broken(sender, **kwargs):
        raise RuntimeError("a receiver is down")

    signals.invoice_paid.connect(broken, dispatch_uid="test.broken")
    try:
        with pytest.raises(RuntimeError):
            capture(order.invoice)
    finally:
        signals.invoice_paid.disconnect(dispatch_uid="test.broken")

    assert Event.objects.count() == before
    assert not Delivery.objects.filter(event__type="invoice.paid").exists()


def test_each_active_endpoint_gets_a_delivery_of_what_it_asked_for(user, loopback):
    paid = endpoint_create(url="http://127.0.0.1:9/a", event_types=["invoice.paid"])
    everything = endpoint_create(url="http://127.0.0.1:9/b", event_types=EVENT_TYPES)
    endpoint_create(url="http://127.0.0.1:9/c", event_types=["ping"])

    capture(checkout(user, bundles=[TokenBundleFactory()]).invoice)

    deliveries = Delivery.objects.select_related("event", "endpoint")
    assert sorted(
        (d.endpoint_id == paid.pk, d.event.type) for d in deliveries if d.endpoint_id == paid.pk
    ) == [(True, "invoice.paid")]
    assert {d.event.type for d in deliveries if d.endpoint_id == everything.pk} == {
        "invoice.created",
        "invoice.paid",
        "tokens.purchased",
    }


def test_a_refund_emits_invoice_refunded_with_what_was_taken_back(user):
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=100)])
    capture(order.invoice)
    token_services.tokens_debit(user_id=user.pk, amount=30)

    billing_services.invoice_refund(invoice_id=order.invoice.pk)

    refunded = Event.objects.get(type="invoice.refunded")
    assert (refunded.data["tokens_reversed"], refunded.data["tokens_unrecovered"]) == (70, 30)


@pytest.fixture
def threshold_10(settings):
    settings.LOW_BALANCE_THRESHOLD = 10


@pytest.fixture
def threshold_12(settings):
    settings.LOW_BALANCE_THRESHOLD = 12


def test_low_balance_fires_once_per_crossing_and_rearms_above(user, threshold_10):
    fund(user, 15)

    token_services.tokens_debit(user_id=user.pk, amount=4)
    token_services.tokens_debit(user_id=user.pk, amount=4)
    token_services.tokens_debit(user_id=user.pk, amount=1)
    fund(user, 20)
    token_services.tokens_debit(user_id=user.pk, amount=20)

    alerts = Event.objects.filter(type="tokens.low_balance").order_by("created_at")
    assert [event.data["balance"] for event in alerts] == [7, 6]


def test_depleted_fires_when_available_reaches_zero(user, threshold_10):
    fund(user, 5)

    token_services.tokens_debit(user_id=user.pk, amount=5)

    depleted = Event.objects.get(type="tokens.depleted")
    assert (depleted.data["balance"], depleted.data["available"]) == (0, 0)


def test_a_hold_that_takes_the_last_tokens_is_depletion(user, threshold_10):
    fund(user, 5)

    token_services.hold_create(user_id=user.pk, amount=5)

    assert Event.objects.filter(type="tokens.depleted").count() == 1


def test_the_users_own_threshold_wins_and_zero_turns_it_off(user, threshold_10):
    fund(user, 100)
    token_services.alerts_set(user_id=user.pk, threshold=50)
    token_services.tokens_debit(user_id=user.pk, amount=60)
    token_services.alerts_set(user_id=user.pk, threshold=0)
    token_services.tokens_debit(user_id=user.pk, amount=35)

    alerts = Event.objects.filter(type="tokens.low_balance")
    assert [(event.data["balance"], event.data["threshold"]) for event in alerts] == [(40, 50)]


def test_lots_warn_7_days_ahead_once_and_expire_with_an_event(user):
    with time_machine.travel(NOW, tick=False) as clock:
        lot = grant(user, 30, expires_at=NOW + timedelta(days=10))
        clock.move_to(NOW + timedelta(days=2, hours=23))
        early = token_services.lots_warn_expiring()
        clock.move_to(NOW + timedelta(days=3))
        first = token_services.lots_warn_expiring()
        again = token_services.lots_warn_expiring()
        clock.move_to(NOW + timedelta(days=10))
        token_services.lots_expire()

    assert (early, first, again) == (0, 1, 0)
    soon = Event.objects.get(type="lot.expiring_soon")
    assert (soon.data["lot_id"], soon.data["remaining"]) == (str(lot.pk), 30)
    assert Event.objects.get(type="lot.expired").data["expired"] == 30


def test_expired_holds_and_refunded_usage_emit_events(user):
    fund(user, 50)
    with time_machine.travel(NOW, tick=False) as clock:
        token_services.hold_create(user_id=user.pk, amount=5, ttl_seconds=60)
        clock.shift(timedelta(minutes=2))
        token_services.holds_expire()
    used = token_services.usage_record(user_id=user.pk, work=Work(amount=3, usage_key="u"))

    token_services.usage_record_refund(user_id=user.pk, usage_id=used.usage.pk, actor_id=None)

    assert Event.objects.get(type="hold.expired").data["amount"] == 5
    assert Event.objects.filter(type="usage.refunded").count() == 1


def test_tokens_given_back_to_an_expired_lot_expire_with_an_event(user):
    """A usage refund into a lot that has expired since books an `expiration` entry, as the
    sweep does, but sent no `lot.expired`: an integrator counting expired tokens by the
    events missed these (the lot was spent when it expired, so the sweep sent none)."""
    with time_machine.travel(NOW, tick=False) as clock:
        lot = grant(user, 5, expires_at=NOW + timedelta(hours=1))
        grant(user, 10)
        used = token_services.usage_record(user_id=user.pk, work=Work(amount=5, usage_key="u"))
        clock.move_to(NOW + timedelta(hours=2))
        token_services.lots_expire()

        token_services.usage_record_refund(user_id=user.pk, usage_id=used.usage.pk, actor_id=None)

    expired = Event.objects.filter(type="lot.expired")
    assert [(event.data["lot_id"], event.data["expired"]) for event in expired] == [
        (str(lot.pk), 5)
    ]


def test_an_unknown_event_type_is_a_programming_error(user):
    with pytest.raises(ValueError, match="Unknown event types"), transaction.atomic():
        events_emit([Notice("invoice.misplaced", {})])


def expiring_and_lasting(user, expiring: int, lasting: int) -> None:
    with time_machine.travel(NOW, tick=False):
        grant(user, expiring, expires_at=NOW + timedelta(hours=1))
        grant(user, lasting)


def lows(user) -> list[int]:
    alerts = Event.objects.filter(type="tokens.low_balance").order_by("created_at")
    return [event.data["balance"] for event in alerts]


def test_lots_expiring_below_the_threshold_alert_once_at_the_sweep(user, threshold_10):
    expiring_and_lasting(user, 20, 5)

    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        token_services.lots_expire()
        token_services.lots_expire()

    assert lows(user) == [5]


def test_a_usage_that_crossed_after_the_expiry_is_not_alerted_again_by_the_sweep(
    user, threshold_10
):
    """Expiry took 35 to 15 (no crossing) and a usage 15 to 9, which alerted; the sweep
    compared the stored 29 with 9 and alerted a second time."""
    expiring_and_lasting(user, 20, 15)

    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        token_services.usage_record(user_id=user.pk, work=Work(amount=6))
        token_services.lots_expire()

    assert lows(user) == [9]


def test_an_expiry_that_crossed_before_a_usage_is_alerted_by_the_sweep(user, threshold_10):
    """Expiry took 25 to 5, below the threshold; the usage after it saw 5 to 3 (no crossing
    of its own), so the sweep is the one to tell."""
    expiring_and_lasting(user, 20, 5)

    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        token_services.usage_record(user_id=user.pk, work=Work(amount=2))
        token_services.lots_expire()

    assert lows(user) == [3]


def test_an_expiry_crossing_is_alerted_when_an_earlier_sweep_run_straddled_it(user, threshold_12):
    """A sweep run stamps its entries with the time it started, so an entry numbered after
    a usage can carry an earlier time: the balance before an expiry is read from the
    entries made since it, not from the last one before it."""
    with time_machine.travel(NOW, tick=False):
        grant(user, 5, expires_at=NOW + timedelta(hours=1))
        grant(user, 10, expires_at=NOW + timedelta(hours=2))
        grant(user, 5)
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        token_services.usage_record(user_id=user.pk, work=Work(amount=4))
        token_services.lots_expire(now=NOW + timedelta(minutes=90))
    with time_machine.travel(NOW + timedelta(hours=4), tick=False):
        token_services.lots_expire()

    assert lows(user) == [1]
