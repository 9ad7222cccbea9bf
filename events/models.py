"""Outgoing events: the outbox (an event row per change, written with it), the seller's
endpoints, one delivery per event and endpoint, and every attempt to deliver it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

EVENT_TYPES = [
    "invoice.created",
    "invoice.paid",
    "invoice.refunded",
    "subscription.activated",
    "subscription.expired",
    "tokens.purchased",
    "tokens.low_balance",
    "tokens.depleted",
    "lot.expiring_soon",
    "lot.expired",
    "hold.expired",
    "usage.refunded",
    "ping",
]


class WebhookEndpoint(models.Model):
    """Where the seller wants events. `event_types` is stored as `|type|type|` so that one
    portable LIKE finds the endpoints an event goes to, on PostgreSQL and SQLite alike."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True, default="")
    event_types = models.TextField(help_text="|type|type|: the events this endpoint gets.")
    is_active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100)
    previous_secrets = models.JSONField(
        default=list,
        blank=True,
        help_text="Secrets rotated out, [{secret, until}]: each signs beside the current one "
        "for 24 h.",
    )
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failure since the last success."
    )
    failed_attempts = models.PositiveIntegerField(
        default=0, help_text="Attempts failed in a row since the last success."
    )
    paused_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Sent nothing before then: the receiver's Retry-After (on a 429 or 503).",
    )
    pause_lifted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When staff last lifted its receiver's pause: a Retry-After to an attempt "
        "sent before then pauses it no more.",
    )
    delivered_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the newest attempt answered 2xx was sent: a failure of one sent "
        "before then, recorded after it, is no failure in a row.",
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    @property
    def types(self) -> list[str]:
        return [name for name in self.event_types.split("|") if name]


class Event(models.Model):
    """One thing that happened, in the transaction that made it happen."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["type", "created_at"], name="events_event_type"),
            # The purge's walk, oldest first (events.services.events_purge).
            models.Index(fields=["created_at", "id"], name="events_event_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.webhook_id}"

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header: the same on every attempt, so receivers can dedupe."""
        return f"evt_{self.id.hex}"


# The waits between a delivery's attempts: after the last, it is given up.
BACKOFF = [
    timedelta(seconds=5),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
]


class Delivery(models.Model):
    """An event on its way to one endpoint: retried with backoff until delivered or given up.

    A worker takes it by setting `leased_until`; a worker that dies leaves a lease that lapses,
    and the delivery is taken again (at least once, with the same `webhook-id`)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Given up"

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    # When staff last resent its event: an answer to an attempt sent before then predates
    # the resend, which may follow another worker's delivery of it (events.dispatch.recording).
    resent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="events_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="events_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} ({self.status})"


class DeliveryAttempt(models.Model):
    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempt = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["delivery", "attempt"], name="events_attempt_delivery"),
            # The admin's list, newest first (migration 0007).
            models.Index(fields=["created_at", "id"], name="events_attempt_created"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt}: {self.status_code or self.error}"
