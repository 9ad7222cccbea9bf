from __future__ import annotations

import pytest

from events import services
from events.tests.receiver import Receiver


@pytest.fixture
def loopback(settings):
    """Webhooks may go to loopback (as WEBHOOK_ALLOW_PRIVATE_URLS=1 allows)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def receiver(loopback, db):
    """A receiver on loopback with an endpoint for every event type."""
    from events.models import EVENT_TYPES

    started = Receiver().start()
    started.endpoint = services.endpoint_create(url=started.url, event_types=EVENT_TYPES)
    started.secrets.append(started.endpoint.secret)
    yield started
    started.stop()


@pytest.fixture
def slow_down(loopback, request):
    """A receiver answering its first request `(status, Retry-After)`, then 204s, with an
    endpoint for pings."""
    status, value = request.param
    receiver = Receiver(fail_first=1, fail_status=status, fail_headers={"Retry-After": value})
    receiver.start()
    receiver.endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    yield receiver
    receiver.stop()


@pytest.fixture
def public_dns(monkeypatch):
    """Host names resolve as the internet would have them (no traffic leaves the machine)."""
    addresses = {"hooks.example.com": ["93.184.215.14"], "internal.example.com": ["10.1.2.3"]}
    monkeypatch.setattr(
        "events.addresses.resolve", lambda host, port: addresses.get(host) or ["127.0.0.1"]
    )
