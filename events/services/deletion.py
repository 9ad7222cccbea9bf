"""Removing a webhook endpoint with its deliveries and their attempts."""

from __future__ import annotations

from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from common.audit import staff_action_record
from events.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.services.endpoints import DELETING, _locked, endpoint_deliveries_fail

DELIVERIES = Delivery._meta.db_table
# Deliveries (with their attempts) removed per transaction: each holds the endpoint for a
# fraction of a second, where the whole of a busy one's (300,000) held it for 5 s.
ENDPOINT_DELETE_BATCH = 10_000


def endpoint_delete(*, endpoint_id: UUID, actor_id: UUID | None = None) -> None:
    """Removes an endpoint and its deliveries. Held locked for the whole of it, a busy
    endpoint kept every change emitting an event it wanted (a debit, a capture) waiting, and
    failing past the lock timeout. So a first transaction turns it off (giving up its pending
    deliveries): emitting passes it by from then on. Then its deliveries go in batches, each
    its own transaction, and the endpoint last. Each locks the endpoint first, the order
    recording outcomes (deliveries_record) takes. Interrupted, it leaves the endpoint off,
    `disabled_reason` DELETING, partly emptied: deleting it again finishes it (it cannot be
    turned on again, endpoint_update). `actor_id` is recorded with the last transaction, the
    one that deletes it (common.audit; the admin records its own). Raises NotFound."""
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        if endpoint.is_active or endpoint.disabled_reason != DELETING:
            now = timezone.now()
            endpoint_deliveries_fail(endpoint_id=endpoint.pk, now=now, reason=DELETING)
            endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = (
                False,
                now,
                DELETING,
            )
            endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    while _a_batch_deleted(endpoint_id):
        pass
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        # What a ping or a retry wrote since the last batch, a few at most.
        DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {DELIVERIES} WHERE endpoint_id = %s",  # noqa: S608 (the model's table)
                [_endpoint_id_value(endpoint.pk)],
            )
        staff_action_record(
            actor_id=actor_id, instances=[endpoint], message="Deleted.", action="delete"
        )
        endpoint.delete()


@transaction.atomic
def _a_batch_deleted(endpoint_id: UUID) -> bool:
    """Deletes the endpoint's ENDPOINT_DELETE_BATCH oldest deliveries with their attempts, in
    a statement each bounded by the batch's last id (not its ids: no parameter per row);
    False when it had none left."""
    _locked(endpoint_id)
    batch = (
        Delivery.objects.filter(endpoint_id=endpoint_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:ENDPOINT_DELETE_BATCH]
    )
    last = max(batch, default=None)
    if last is None:
        return False
    DeliveryAttempt.objects.filter(
        delivery__endpoint_id=endpoint_id, delivery_id__lte=last
    ).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DELIVERIES} WHERE endpoint_id = %s AND id <= %s",  # noqa: S608 (the model's table)
            [_endpoint_id_value(endpoint_id), last],
        )
    return True


def _endpoint_id_value(endpoint_id: UUID) -> object:
    return WebhookEndpoint._meta.pk.get_db_prep_value(endpoint_id, connection)
