"""Payment events: every delivery from a payment provider, as it arrived."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from billing.models.invoices import Invoice


class PaymentEvent(models.Model):
    """One delivery from a payment provider, kept whatever became of it."""

    class Outcome(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        ALREADY_PROCESSED = "already_processed", "Already processed"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed (will be retried)"
        NEEDS_REVIEW = "needs_review", "Needs review"
        HELD = "held", "Held until its capture arrives"
        IGNORED = "ignored", "Ignored (type not handled)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=16, choices=Invoice.Provider.choices)
    event_id = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The provider's id; empty when none was sent or the signature was not valid.",
    )
    event_type = models.CharField(max_length=100, blank=True, default="")
    payload = models.TextField(help_text="The raw body as received.")
    signature_valid = models.BooleanField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RECEIVED)
    error = models.TextField(blank=True, default="")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="payment_events"
    )
    payment_reference = models.CharField(max_length=255, blank=True, default="")
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"],
                condition=~Q(event_id=""),
                name="billing_payment_event_once",
            ),
        ]
        indexes = [
            models.Index(fields=["outcome", "received_at"], name="billing_event_outcome"),
            models.Index(fields=["payment_reference"], name="billing_event_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type or 'delivery'} ({self.outcome})"
