"""Old events go: the outbox, its deliveries and their attempts do not grow for ever."""

from datetime import UTC, datetime, timedelta

import pytest

from common.tests.waits import row_locked
from events import services
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from jobs import tasks

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)
OLD = CUTOFF - timedelta(days=1)
YOUNG = CUTOFF + timedelta(days=1)


@pytest.fixture
def endpoints() -> list[WebhookEndpoint]:
    return [
        WebhookEndpoint.objects.create(url=f"https://hooks.example.com/{n}", secret="whsec_x")
        for n in range(2)
    ]


def event(created_at: datetime, endpoints: list[WebhookEndpoint], *statuses: str) -> Event:
    """An event with a delivery to each endpoint in `statuses`, each with one attempt."""
    made = Event.objects.create(type="ping", data={}, created_at=created_at)
    for endpoint, status in zip(endpoints, statuses, strict=False):
        delivery = Delivery.objects.create(event=made, endpoint=endpoint, status=status)
        DeliveryAttempt.objects.create(delivery=delivery, attempt=1, duration_ms=3)
    return made


def kept() -> set:
    return set(Event.objects.values_list("pk", flat=True))


@pytest.mark.sqlite
def test_an_old_event_whose_deliveries_finished_goes_with_them_and_their_attempts(endpoints):
    delivered = event(OLD, endpoints, "succeeded", "failed")
    unsent = event(OLD, endpoints)
    young = event(YOUNG, endpoints, "succeeded", "succeeded")

    purged = services.events_purge(older_than=CUTOFF)

    assert (purged, kept()) == (2, {young.pk})
    assert not Delivery.objects.filter(event_id__in=[delivered.pk, unsent.pk]).exists()
    assert DeliveryAttempt.objects.count() == 2
    assert Delivery.objects.filter(event=young).count() == 2


@pytest.mark.sqlite
def test_an_old_event_with_a_delivery_still_on_its_way_keeps_all_of_them(endpoints):
    """It may be resent as a whole: its delivered one stays beside the pending one."""
    waiting = event(OLD, endpoints, "succeeded", "pending")

    purged = services.events_purge(older_than=CUTOFF)

    assert (purged, kept()) == (0, {waiting.pk})
    assert Delivery.objects.filter(event=waiting).count() == 2
    assert DeliveryAttempt.objects.count() == 2


@pytest.mark.sqlite
def test_batches_walk_past_events_they_keep(endpoints, monkeypatch):
    """Kept events at the head of every batch never stop the walk."""
    monkeypatch.setattr("events.services.purge.PURGE_BATCH", 2)
    waiting = [
        event(OLD - timedelta(hours=hours), endpoints, "pending", "pending") for hours in (9, 8, 7)
    ]
    for hours in range(6):
        event(OLD - timedelta(hours=hours), endpoints, "succeeded", "failed")

    purged = services.events_purge(older_than=CUTOFF)

    assert (purged, kept()) == (6, {made.pk for made in waiting})


@pytest.mark.sqlite
def test_a_resend_after_the_purge_finds_no_event(endpoints):
    gone = event(OLD, endpoints, "succeeded")
    services.events_purge(older_than=CUTOFF)

    with pytest.raises(services.NotFound):
        services.event_resend(event_id=gone.pk)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_another_transaction_holds_is_passed_by_not_waited_for(endpoints):
    """Its endpoint being deleted, or the event being resent: the purge takes the event, all
    of it, next time; its other finished delivery is not taken meanwhile."""
    held = event(OLD, endpoints, "succeeded", "succeeded")
    other = event(OLD, endpoints, "failed")
    delivery = Delivery.objects.filter(event=held).order_by("pk").first()

    with row_locked("SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE", [delivery.pk]):
        purged = services.events_purge(older_than=CUTOFF)

    assert (purged, kept()) == (1, {held.pk})
    assert Delivery.objects.filter(event=held).count() == 2
    assert other.pk not in kept()
    assert (services.events_purge(older_than=CUTOFF), kept()) == (1, set())


@pytest.mark.sqlite
def test_the_workers_daily_purge_lets_events_go_after_event_retention_days(
    endpoints, settings, time_machine
):
    settings.EVENT_RETENTION_DAYS = 30
    time_machine.move_to(NOW, tick=False)
    old = event(OLD, endpoints, "succeeded")
    young = event(YOUNG, endpoints, "failed")

    tasks.purge_records.call()

    assert old.pk not in kept()
    assert kept() == {young.pk}
