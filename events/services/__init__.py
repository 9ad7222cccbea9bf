"""Writes of the events app: the outbox (emit), endpoints (create, change, rotate, remove),
putting events back on their way (resend, test), and letting old ones go (purge). Split by
concern; import them from here."""

from common.errors import NotFound
from events.services.deletion import endpoint_delete
from events.services.endpoints import (
    URL_RESOLVE_TIMEOUT_SECONDS,
    InvalidUrl,
    endpoint_create,
    endpoint_deliveries_fail,
    endpoint_pause_lift,
    endpoint_update,
    endpoint_url_refusal,
    event_types_checked,
    new_secret,
)
from events.services.outbox import Notice, events_emit
from events.services.purge import PURGE_BATCH, events_purge
from events.services.resend import RESEND_BATCH, Resent, endpoint_ping, event_resend, events_resend
from events.services.signing import (
    MAX_PREVIOUS_SECRETS,
    SECRET_OVERLAP,
    endpoint_rotate_secret,
    previous_secrets_signing,
)

__all__ = [
    "MAX_PREVIOUS_SECRETS",
    "PURGE_BATCH",
    "RESEND_BATCH",
    "SECRET_OVERLAP",
    "URL_RESOLVE_TIMEOUT_SECONDS",
    "InvalidUrl",
    "NotFound",
    "Notice",
    "Resent",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_deliveries_fail",
    "endpoint_pause_lift",
    "endpoint_ping",
    "endpoint_rotate_secret",
    "endpoint_update",
    "endpoint_url_refusal",
    "event_resend",
    "event_types_checked",
    "events_emit",
    "events_purge",
    "events_resend",
    "new_secret",
    "previous_secrets_signing",
]
