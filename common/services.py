"""Idempotency records: claim a key, store the first answer, or release the claim.

A claim is one INSERT, committed before the work starts, so a concurrent duplicate sees it
and gets 409 instead of doing the work twice. The work itself stays idempotent by its own key
in the database (ledger entries, invoices), so a claim taken over after a crash cannot do
anything twice either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection
from django.utils import timezone

from common.db import savepoint_if_nested
from common.errors import DomainError
from common.models import IdempotencyRecord

RETENTION = timedelta(hours=24)
IN_FLIGHT_TIMEOUT = timedelta(seconds=60)


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    http_status = 422
    default_message = (
        "This Idempotency-Key was already used with a different request; use a new key."
    )


class IdempotencyInProgress(DomainError):
    code = "conflict"
    default_message = (
        "A request with this Idempotency-Key is still being processed; retry in a moment."
    )


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def idempotency_claim(
    *, user_id: object, key: str, fingerprint: str
) -> IdempotencyRecord | StoredResponse:
    """Claims `key` for this request, or returns the first request's stored answer.

    Raises IdempotencyKeyReused when the key came with another request, and
    IdempotencyInProgress while the first request is still running. A record older than 24 h
    counts as absent; an in-flight claim older than a minute (its request died) is taken over.
    """
    now = timezone.now()
    try:
        with savepoint_if_nested():
            return _insert_claim(user_id, key, fingerprint, now)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(user_id=user_id, key=key)
    if record.created_at < now - RETENTION:
        return _take_over(record, fingerprint, now, reset_created=True)
    if record.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if record.status == IdempotencyRecord.Status.COMPLETED:
        return StoredResponse(status=record.response_status, body=record.response_body)
    if record.updated_at < now - IN_FLIGHT_TIMEOUT:
        return _take_over(record, fingerprint, now, reset_created=False)
    raise IdempotencyInProgress()


def _take_over(
    record: IdempotencyRecord, fingerprint: str, now: datetime, *, reset_created: bool
) -> IdempotencyRecord:
    """One conditional UPDATE: of two requests taking over the same record, one wins."""
    fields = {
        "request_fingerprint": fingerprint,
        "status": IdempotencyRecord.Status.IN_FLIGHT,
        "response_status": None,
        "response_body": None,
        "updated_at": now,
    }
    if reset_created:
        fields["created_at"] = now
    won = IdempotencyRecord.objects.filter(pk=record.pk, updated_at=record.updated_at).update(
        **fields
    )
    if not won:
        raise IdempotencyInProgress()
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _COMPLETE_SQL,
            [
                IdempotencyRecord.Status.COMPLETED,
                status,
                _prepared("response_body", body),
                _prepared("updated_at", timezone.now()),
                record.pk,
            ],
        )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forgets a claim whose request failed unexpectedly, so the client can retry it."""
    IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyRecord.Status.IN_FLIGHT
    ).delete()


def idempotency_records_purge(*, older_than: datetime, dry_run: bool = False) -> int:
    """Deletes records past retention; returns how many there were."""
    expired = IdempotencyRecord.objects.filter(created_at__lt=older_than)
    return expired.count() if dry_run else expired.delete()[0]


# The claim and the completion are on every idempotent request, so they skip the ORM's query
# building (a third of their cost here); the SQL runs on PostgreSQL and SQLite alike.
_TABLE = IdempotencyRecord._meta.db_table
_CLAIM_SQL = f"""
INSERT INTO {_TABLE} (user_id, key, request_fingerprint, status, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s)
RETURNING id
"""  # noqa: S608 (the table name comes from the model, values are parameters)
_COMPLETE_SQL = f"""
UPDATE {_TABLE} SET status = %s, response_status = %s, response_body = %s, updated_at = %s
WHERE id = %s
"""  # noqa: S608 (the table name comes from the model, values are parameters)


def _prepared(field: str, value: Any) -> Any:
    return IdempotencyRecord._meta.get_field(field).get_db_prep_value(value, connection)


def _insert_claim(user_id: object, key: str, fingerprint: str, now: datetime) -> IdempotencyRecord:
    status = IdempotencyRecord.Status.IN_FLIGHT
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            [
                _prepared("user", user_id),
                key,
                fingerprint,
                status,
                _prepared("created_at", now),
                _prepared("updated_at", now),
            ],
        )
        (record_id,) = cursor.fetchone()
    record = IdempotencyRecord(
        id=record_id,
        user_id=user_id,
        key=key,
        request_fingerprint=fingerprint,
        status=status,
        created_at=now,
        updated_at=now,
    )
    record._state.adding = False
    record._state.db = connection.alias
    return record
