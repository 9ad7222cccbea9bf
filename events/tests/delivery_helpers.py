"""Emitting events and running the dispatcher, shared by the test_delivery_* modules."""

import time
from datetime import UTC, datetime

from django.db import transaction

from events import services
from events.dispatch import (
    Dispatcher,
)
from events.models import Event

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def emit(kind: str = "ping", **data) -> Event:
    with transaction.atomic():
        (event_id,) = services.events_emit([services.Notice(kind, data or {"n": 1})])
    return Event.objects.get(pk=event_id)


def dispatch_until(condition, *, dispatcher: Dispatcher, seconds: float = 10) -> None:
    """Dispatches what is due until `condition()` holds (the receiver is on another thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "nothing arrived in time"
        dispatcher.dispatch()
        time.sleep(0.05)
