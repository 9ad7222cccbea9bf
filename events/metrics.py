"""Webhook delivery in /metrics, read from the database at every scrape.

The worker sends deliveries and records their outcomes in its own process, often in another
container or on another machine than gunicorn, whose /metrics could never see a counter it
incremented. What an operator alerts on is in the database, so /metrics reads it there, in
two queries:

- `webhook_deliveries_due`: deliveries due now (or in flight) to endpoints that are on and
  not paused by their receiver (`paused_until`, its `Retry-After`). It stays high when the
  worker does not keep up.
- `webhook_deliveries_oldest_due_timestamp_seconds`: when the longest-waiting of them fell
  due; none while nothing is due. Alert on `time() - ...` above a few minutes: the worker
  has stopped (the lease of a delivery in flight lapses after WEBHOOK_LEASE_SECONDS), or
  deliveries fall behind: a burst to one slow endpoint, which the per-endpoint limit paces,
  waits here too, so look at `webhook_endpoints` and the worker's log before restarting it.
- `webhook_endpoints{state}`: `healthy` (on, no failure since its last success), `failing`
  (on, failing since `failing_since`) and `off` (turned off by staff or after 5 days of
  failures, or being deleted). A rise of `off` is a seller no longer getting events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Min, Q
from prometheus_client.core import GaugeMetricFamily

from common.outage import warn_database_error
from events.models import Delivery, WebhookEndpoint
from events.services.outbox import database_clock

logger = logging.getLogger(__name__)


class WebhookDeliveriesCollector:
    """No `describe`: the registry must not query the database when it is registered."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        due = GaugeMetricFamily(
            "webhook_deliveries_due",
            "Webhook deliveries due now or in flight, to endpoints that are on and not paused"
            " by their receiver (Retry-After).",
        )
        oldest = GaugeMetricFamily(
            "webhook_deliveries_oldest_due_timestamp_seconds",
            "When the longest-waiting due webhook delivery (to an endpoint on and not paused by"
            " its receiver) fell due, in seconds since the epoch.",
        )
        endpoints = GaugeMetricFamily(
            "webhook_endpoints",
            "Webhook endpoints: healthy (on), failing (on, failing since its last success), off.",
            labels=["state"],
        )
        try:
            # Due by the database's clock, which deliveries are made due by and the worker
            # sends by, in the statement: by this web server's own, one running slow hid late
            # deliveries (and delayed the alert on the oldest) by as much, one running fast
            # counted retries not yet due.
            now = database_clock()
            waiting = (
                Delivery.objects.filter(
                    status=Delivery.Status.PENDING,
                    next_attempt_at__lte=now,
                    endpoint__is_active=True,
                )
                # Waiting as the receiver asked is not late.
                .exclude(endpoint__paused_until__gt=now)
                .aggregate(count=Count("pk"), oldest=Min("next_attempt_at"))
            )
            states = WebhookEndpoint.objects.aggregate(
                healthy=Count("pk", filter=Q(is_active=True, failing_since__isnull=True)),
                failing=Count("pk", filter=Q(is_active=True, failing_since__isnull=False)),
                off=Count("pk", filter=Q(is_active=False)),
            )
        except DatabaseError as error:
            # The other metrics are still worth answering with; /health reports the database.
            warn_database_error(logger, "/metrics could not read the webhook deliveries", error)
            return
        due.add_metric([], waiting["count"])
        if waiting["oldest"] is not None:
            oldest.add_metric([], waiting["oldest"].timestamp())
        for state, count in states.items():
            endpoints.add_metric([state], count)
        yield due
        yield oldest
        yield endpoints
