"""Removing a webhook endpoint with its deliveries and their attempts."""

from __future__ import annotations

from uuid import UUID

from django.db import connection, transaction

from events.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.services.endpoints import _locked

DELIVERIES = Delivery._meta.db_table


@transaction.atomic
def endpoint_delete(*, endpoint_id: UUID) -> None:
    """Removes an endpoint and its deliveries, locking the endpoint first: recording
    outcomes (deliveries_record) takes the same order. The attempts and the deliveries go in
    a statement each that names the endpoint: Django's delete loaded every delivery's id and
    sent them in one `IN (...)`, which PostgreSQL refuses past 65,535 parameters (a month of
    a busy endpoint's deliveries). Raises NotFound."""
    endpoint = _locked(endpoint_id)
    DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DELIVERIES} WHERE endpoint_id = %s",  # noqa: S608 (the model's table)
            [WebhookEndpoint._meta.pk.get_db_prep_value(endpoint.pk, connection)],
        )
    endpoint.delete()
