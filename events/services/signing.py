"""Endpoint secrets: rotating them, and which rotated-out ones still sign."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from common.audit import staff_action_record
from events.models import WebhookEndpoint
from events.services.endpoints import _locked, new_secret

SECRET_OVERLAP = timedelta(hours=24)
# Rotated-out secrets kept signing at once (each adds a signature to every delivery).
MAX_PREVIOUS_SECRETS = 5


def endpoint_rotate_secret(
    *, endpoint_id: UUID, now: datetime | None = None, actor_id: UUID | None = None
) -> WebhookEndpoint:
    """A new secret; every secret rotated out keeps signing beside it for 24 h, also when
    another rotation follows within them (a retried one, or a second staff member's): a
    receiver still on the first would otherwise refuse every delivery at once. At most
    MAX_PREVIOUS_SECRETS, the newest. `actor_id` is recorded with it (common.audit). Raises
    NotFound."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = _locked(endpoint_id)
        still_signing = [
            {"secret": secret, "until": until.isoformat()}
            for secret, until in previous_secrets_signing(endpoint, now)
        ]
        rotated_out = {"secret": endpoint.secret, "until": (now + SECRET_OVERLAP).isoformat()}
        endpoint.previous_secrets = [*still_signing, rotated_out][-MAX_PREVIOUS_SECRETS:]
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret", "previous_secrets"])
        staff_action_record(actor_id=actor_id, instances=[endpoint], message="Secret rotated.")
    return endpoint


def previous_secrets_signing(
    endpoint: WebhookEndpoint, now: datetime
) -> list[tuple[str, datetime]]:
    """The secrets rotated out that still sign at `now`, oldest first, with their end."""
    signing = []
    for previous in endpoint.previous_secrets:
        until = datetime.fromisoformat(previous["until"])
        if until > now:
            signing.append((previous["secret"], until))
    return signing
