"""An event resent while the purge of old events deletes it: the resend read the event, then
waited for the purge's locks on its deliveries, and found them gone once the purge
committed. It answered "0 deliveries queued" (the API's 202 `{deliveries: 0}`, the admin's
"0 deliveries queued again") for an event that no longer exists. Real threads, each with
its own connection, on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from common.errors import NotFound
from common.tests.waits import sessions_waiting_on_a_lock, wait_until
from events import services
from events.models import Delivery, Event
from events.tests.concurrency_helpers import _in_thread as in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_the_purge_deletes_while_it_is_resent_is_not_found(loopback):
    services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    with transaction.atomic():
        (event_id,) = services.events_emit([services.Notice("ping", {"n": 1})])
    Delivery.objects.update(status=Delivery.Status.SUCCEEDED, completed_at=timezone.now())
    Event.objects.update(created_at=timezone.now() - timedelta(days=60))
    purged, commit = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def purge_held_open() -> int:
        with transaction.atomic():
            count = services.events_purge(older_than=timezone.now() - timedelta(days=30))
            purged.set()
            commit.wait(10)
        return count

    purging = in_thread(outcomes, "purge", purge_held_open)
    purged.wait(10)
    resending = in_thread(outcomes, "resend", lambda: services.event_resend(event_id=event_id))
    wait_until(lambda: "resend" in outcomes or sessions_waiting_on_a_lock() >= 1)
    commit.set()
    purging.join()
    resending.join()

    assert outcomes["purge"] == 1
    assert isinstance(outcomes["resend"], NotFound), outcomes["resend"]
    assert not Event.objects.exists()
