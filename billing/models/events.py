"""Payment events: every delivery from a payment provider, as it arrived."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from billing.models.invoices import Invoice

HANDLED_NOTE_MAX = 500


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
    handled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a person settled this event needing review: reconciliation no longer "
        "counts it.",
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who settled it.",
    )
    handled_note = models.CharField(
        max_length=HANDLED_NOTE_MAX, blank=True, default="", help_text="What they did about it."
    )
    stripe_refund_id = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The refund staff made at Stripe from the payment events' admin: on the events "
        "it settled, and on Stripe's charge.refunded of it, recorded as that refund.",
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # Only an event needing review is settled by a person; re-processing one gives it
            # a new outcome and clears what was recorded.
            models.CheckConstraint(
                condition=Q(handled_at__isnull=True) | Q(outcome="needs_review"),
                name="billing_payment_event_handled_needs_review",
            ),
            # Settled says when, by whom and what was done; unsettled says none of it.
            models.CheckConstraint(
                condition=(
                    Q(handled_at__isnull=True, handled_by__isnull=True, handled_note="")
                    | (Q(handled_at__isnull=False, handled_by__isnull=False) & ~Q(handled_note=""))
                ),
                name="billing_payment_event_handled_whole",
            ),
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
