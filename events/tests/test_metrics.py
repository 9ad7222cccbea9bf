"""Webhook delivery in /metrics, wherever it happens: the worker sends and records deliveries
in its own process (often another container) than the gunicorn that answers /metrics, so
only what the database says can be read there: what is due and waiting, since when, and
how many endpoints fail or are off."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from common.tests.servers import gunicorn, the_test_database
from events import services
from events.dispatch import Dispatcher
from events.metrics import WebhookDeliveriesCollector
from events.models import Delivery, WebhookEndpoint

DUE = "webhook_deliveries_due"
OLDEST = "webhook_deliveries_oldest_due_timestamp_seconds"
ENDPOINTS = "webhook_endpoints"


def values(text: str) -> dict:
    return {
        (sample.name, sample.labels.get("state")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in (DUE, OLDEST, ENDPOINTS)
    }


def ping() -> None:
    with transaction.atomic():
        services.events_emit([services.Notice("ping", {"n": 1})])


@pytest.mark.django_db(transaction=True)
def test_gunicorns_metrics_show_deliveries_the_worker_records_elsewhere(loopback):
    """Nothing the worker did reached /metrics: a worker that stopped, or an endpoint that
    failed until it was turned off, showed nowhere an operator alerts from."""
    down = services.endpoint_create(url="http://127.0.0.1:9/down", event_types=["ping"])
    ping()
    dispatcher = Dispatcher(threads=2)
    deadline = time.monotonic() + 60
    while not Delivery.objects.filter(attempts=1).exists():
        assert time.monotonic() < deadline, "the attempt was not recorded in time"
        dispatcher.dispatch()
        dispatcher.record(wait=0.2)
    dispatcher.close()
    # Its retry is 5 s away, which a loaded machine's gunicorn takes to start: put it later,
    # so that only the waiting endpoint's delivery is due when /metrics is read.
    Delivery.objects.filter(endpoint=down).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    # An endpoint added since, whose event waits for a worker that does not run.
    waiting = services.endpoint_create(url="http://127.0.0.1:9/waiting", event_types=["ping"])
    services.endpoint_update(endpoint_id=down.pk, event_types=["invoice.paid"])
    since = timezone.now() - timedelta(minutes=10)
    ping()
    Delivery.objects.filter(endpoint=waiting, attempts=0).update(next_attempt_at=since)
    off = services.endpoint_create(url="http://127.0.0.1:9/off", event_types=["ping"])
    services.endpoint_update(endpoint_id=off.pk, is_active=False)

    with gunicorn(database=the_test_database(), workers=2) as server:
        status, _, text = server.call("GET", "/metrics")

    assert status == 200
    assert values(text) == {
        (DUE, None): 1,
        (OLDEST, None): since.timestamp(),
        (ENDPOINTS, "healthy"): 1,
        (ENDPOINTS, "failing"): 1,
        (ENDPOINTS, "off"): 1,
    }


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_metrics_are_read_in_two_queries_and_nothing_due_has_no_oldest(
    django_assert_max_num_queries,
):
    WebhookEndpoint.objects.create(url="https://example.com/x", event_types="|ping|")

    with django_assert_max_num_queries(2):
        text = b"".join(
            f"{sample.name} {sample.labels} {sample.value}\n".encode()
            for family in WebhookDeliveriesCollector().collect()
            for sample in family.samples
        ).decode()

    assert f"{DUE} {{}} 0" in text
    assert OLDEST not in text
    assert f"{ENDPOINTS} {{'state': 'healthy'}} 1" in text


@pytest.mark.sqlite
@pytest.mark.django_db
def test_an_event_waiting_out_its_receiver_s_pause_is_not_late():
    """The worker sends nothing before a `Retry-After` ends: counted due, an event emitted
    during a 24 h pause looked like a worker that had stopped."""
    paused = WebhookEndpoint.objects.create(
        url="https://example.com/x",
        event_types="|ping|",
        paused_until=timezone.now() + timedelta(hours=1),
    )
    ping()

    families = list(WebhookDeliveriesCollector().collect())
    samples = {sample.name: sample.value for family in families for sample in family.samples}
    described = {family.name: family.documentation for family in families}

    assert Delivery.objects.filter(endpoint=paused, status="pending").count() == 1
    assert samples[DUE] == 0
    assert OLDEST not in samples
    # The HELP line an operator reads says so ("to endpoints that are on" said nothing of it).
    assert "paused" in described[DUE]
    assert "paused" in described[OLDEST]
