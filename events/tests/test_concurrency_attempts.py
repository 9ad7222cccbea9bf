"""Alerts and endpoint changes under real concurrency on PostgreSQL, each thread with its
own connection."""

import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from common.tests.concurrency import run_together
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from events import services as event_services
from events.models import Delivery, Event
from events.tests.concurrency_helpers import _in_thread, _recording_beside, _two_pending
from tokens import services
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


@pytest.mark.sqlite
def test_a_threshold_crossed_by_50_concurrent_debits_fires_exactly_once(settings):
    settings.LOW_BALANCE_THRESHOLD = 100
    user = UserFactory()
    fund(user, 150)

    outcomes = run_together(
        [lambda: services.tokens_debit(user_id=user.pk, amount=2)] * 50, workers=10
    )

    assert not [o for o in outcomes if isinstance(o, Exception)]
    alerts = Event.objects.filter(type="tokens.low_balance", data__user_id=str(user.pk))
    assert alerts.count() == 1
    assert alerts.get().data["balance"] == 98


def test_turning_an_endpoint_off_while_an_attempt_is_recorded_finishes_both(loopback):
    """Turning off locked the endpoint, then its pending deliveries; recording locked the
    delivery, then the endpoint (to mark it failing). Held up between its two locks,
    turning off waited for the delivery recording held, which waited for the endpoint:
    PostgreSQL aborted one of them (the staff's PATCH answered 500, or the batch was lost)."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = _two_pending(endpoint, recorded_first=False)

    outcomes = _recording_beside(
        lambda: event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=False).is_active,
        recorded,
        other,
    )

    assert outcomes == {"change": False, "record": None}
    assert set(Delivery.objects.values_list("status", "last_error")) == {
        ("failed", "The endpoint was turned off.")
    }


def test_a_new_url_while_an_attempt_is_recorded_finishes_both(loopback):
    """A new URL brings the endpoint's waiting deliveries forward after locking it, in the
    order recording takes them (the endpoint, then its deliveries): neither is aborted."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = _two_pending(endpoint, recorded_first=False)
    later = timezone.now() + timedelta(hours=12)
    Delivery.objects.update(next_attempt_at=later)

    outcomes = _recording_beside(
        lambda: (
            event_services.endpoint_update(
                endpoint_id=endpoint.pk, url="http://127.0.0.1:9/fixed"
            ).url
        ),
        recorded,
        other,
    )

    assert outcomes == {"change": "http://127.0.0.1:9/fixed", "record": None}
    assert Delivery.objects.get(pk=other.pk).next_attempt_at < later
    assert Delivery.objects.get(pk=recorded.pk).attempts == 1


def test_an_event_emitted_while_its_endpoint_is_turned_off_is_not_sent_once_it_is_on(
    loopback, settings
):
    """Turning an endpoint off gives up its pending deliveries, so that on again it gets new
    events only (docs/api.md); a delivery written by a change still open then was not among
    them, stayed pending, and went out as an old event once the endpoint was on again."""
    settings.LOW_BALANCE_THRESHOLD = 100
    user = UserFactory()
    fund(user, 150)
    endpoint = event_services.endpoint_create(
        url="http://127.0.0.1:9/hooks", event_types=["tokens.low_balance"]
    )
    emitted, go = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def debit() -> int:
        with transaction.atomic():
            entry = services.tokens_debit(user_id=user.pk, amount=60)
            emitted.set()
            go.wait(10)
        return entry.balance_after

    def turn_off() -> bool:
        return event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=False).is_active

    debiting = _in_thread(outcomes, "debit", debit)
    assert emitted.wait(10)
    turning_off = _in_thread(outcomes, "off", turn_off)
    wait_until(lambda: "off" in outcomes or sessions_waiting_on_a_lock() >= 1)
    go.set()
    debiting.join()
    turning_off.join()
    event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)

    assert outcomes == {"debit": 90, "off": False}
    assert list(Delivery.objects.values_list("status", flat=True)) == ["failed"]


def test_an_event_resent_while_its_endpoint_is_turned_off_is_not_sent_once_it_is_on(loopback):
    """Resend read which endpoints were on as its statement began, and put their deliveries
    back on their way without locking them: an endpoint turned off meanwhile (its pending
    deliveries given up) kept the resent one pending, and it went out as an old event once
    the endpoint was on again, where turning it off promises new events only (docs/api.md).
    Here the resend is held up on its delivery (another transaction holds it) after it has
    read the endpoint as on."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    event = Event.objects.create(type="ping", data={})
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, status="succeeded")
    outcomes: dict[str, object] = {}

    def turn_off() -> bool:
        return event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=False).is_active

    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [delivery.pk]):
        resending = _in_thread(
            outcomes, "resend", lambda: event_services.event_resend(event_id=event.pk)
        )
        wait_until(lambda: "resend" in outcomes or sessions_waiting_on_a_lock() >= 1)
        turning_off = _in_thread(outcomes, "off", turn_off)
        wait_until(lambda: "off" in outcomes or sessions_waiting_on_a_lock() >= 2)
    resending.join()
    turning_off.join()
    event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)

    assert outcomes == {"resend": 1, "off": False}
    assert list(Delivery.objects.values_list("status", "last_error")) == [
        ("failed", "The endpoint was turned off.")
    ]
