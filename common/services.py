"""Idempotency records: the first answer to a key, stored in the same transaction as the work.

A record is written only when its request's transaction commits, so nothing is ever left
claimed: a request whose worker dies rolls back with its connection, and its retry simply
runs. A duplicate running at the same time waits on the work's own row locks and unique
keys, or on this table's unique index, until the first commits, then answers from its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from common.db import fetched
from common.errors import DomainError
from common.models import IdempotencyRecord

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

RETENTION = timedelta(hours=24)


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    http_status = 422
    default_message = (
        "This Idempotency-Key was already used with a different request; use a new key."
    )


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def idempotency_record(
    *,
    user_id: object,
    key: str,
    fingerprint: str,
    status: int,
    body: Any,
    database: BaseDatabaseWrapper | None = None,
) -> bool:
    """Stores the answer to `key`, in the caller's transaction when there is one. On
    `database`, the default connection the caller has already looked up, or looked up here.

    Returns False, and changes nothing, when the key already has an answer younger than 24 h;
    an older one counts as absent and is replaced. While another transaction holds an
    uncommitted answer to the same key, this waits for it on the unique index.
    """
    # The connection looked up once: each use of django.db.connection looks it up again.
    database = database or connections[DEFAULT_DB_ALIAS]
    now = timezone.now()
    stored = fetched(
        _RECORD_SQL,
        [
            _prepared("user", user_id, database),
            key,
            fingerprint,
            status,
            _prepared("response_body", body, database),
            _prepared("created_at", now, database),
            _prepared("created_at", now - RETENTION, database),
        ],
        database,
    )
    return bool(stored)


def idempotency_answer(*, user_id: object, key: str, fingerprint: str) -> StoredResponse | None:
    """The stored answer to `key`, or None when it has none younger than 24 h.

    Raises IdempotencyKeyReused when the key answered a different request.
    """
    fresh = IdempotencyRecord.objects.filter(created_at__gte=timezone.now() - RETENTION)
    try:
        record = fresh.get(user_id=user_id, key=key)
    except IdempotencyRecord.DoesNotExist:
        return None
    if record.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return StoredResponse(status=record.response_status, body=record.response_body)


# Records deleted per statement by the purge.
PURGE_BATCH = 10_000


def idempotency_records_purge(*, older_than: datetime, dry_run: bool = False) -> int:
    """Deletes records past retention; returns how many there were. In batches, each its
    own transaction: a day of a busy service's records in one DELETE could outlast the
    statement timeout, fail every day, and let the table grow for good."""
    expired = IdempotencyRecord.objects.filter(created_at__lt=older_than)
    if dry_run:
        return expired.count()
    purged = 0
    while batch := list(expired.values_list("pk", flat=True)[:PURGE_BATCH]):
        purged += IdempotencyRecord.objects.filter(pk__in=batch).delete()[0]
    return purged


# On every idempotent request, so plain SQL (the ORM's query building was a third of its
# cost); it runs on PostgreSQL and SQLite alike.
_TABLE = IdempotencyRecord._meta.db_table
_RECORD_SQL = f"""
INSERT INTO {_TABLE}
    (user_id, key, request_fingerprint, response_status, response_body, created_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, key) DO UPDATE SET
    request_fingerprint = excluded.request_fingerprint,
    response_status = excluded.response_status,
    response_body = excluded.response_body,
    created_at = excluded.created_at
WHERE {_TABLE}.created_at < %s
RETURNING id
"""  # noqa: S608 (the table name comes from the model, values are parameters)


def _prepared(field: str, value: Any, database: BaseDatabaseWrapper) -> Any:
    return IdempotencyRecord._meta.get_field(field).get_db_prep_value(value, database)
