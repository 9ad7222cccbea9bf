"""Webhooks in the admin: endpoints, events with their deliveries, and delivery attempts.
Writes go through events.services."""

from events.admin.endpoints import WebhookEndpointAdmin
from events.admin.records import DeliveryAttemptAdmin, EventAdmin

__all__ = ["DeliveryAttemptAdmin", "EventAdmin", "WebhookEndpointAdmin"]
