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
