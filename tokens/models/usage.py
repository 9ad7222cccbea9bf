"""Usage: what a user's work cost and what paid for it; holds: tokens reserved before long
work; coverage: the periods an unlimited plan pays for all usage."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from tokens.models.ledger import TokenAccount, TokenTransaction

MAX_USAGE = 1_000_000


class UsageSource(models.TextChoices):
    SUBSCRIPTION = "subscription", "Unlimited subscription"
    TRIAL = "trial", "Trial tokens"
    TOKENS = "tokens", "Tokens"


class Hold(models.Model):
    """Tokens reserved for work whose cost is known only at its end. While active and before
    `expires_at` its uncaptured amount counts against what is available; it resolves once:
    captured, released or expired."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CAPTURED = "captured", "Captured"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    class Source(models.TextChoices):
        TOKENS = "tokens", "Tokens"
        SUBSCRIPTION = "subscription", "Unlimited subscription"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: (account, created_at) leads with it.
    account = models.ForeignKey(
        TokenAccount, on_delete=models.PROTECT, related_name="holds", db_index=False
    )
    amount = models.BigIntegerField()
    captured = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.TOKENS)
    feature = models.CharField(max_length=64, blank=True, default="")
    reference = models.CharField(max_length=255, blank=True, default="")
    idempotency_key = models.CharField(max_length=320, blank=True, default="")
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=1, amount__lte=MAX_USAGE), name="tokens_hold_amount_range"
            ),
            models.CheckConstraint(
                condition=Q(captured__gte=0, captured__lte=F("amount")),
                name="tokens_hold_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status="active", resolved_at__isnull=True)
                | (~Q(status="active") & Q(resolved_at__isnull=False)),
                name="tokens_hold_resolved_once",
            ),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="tokens_hold_account_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="tokens_hold_account_created"),
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(status="active"),
                name="tokens_hold_account_active",
            ),
        ]

    def __str__(self) -> str:
        return f"Hold of {self.amount} ({self.status})"

    @property
    def uncaptured(self) -> int:
        return self.amount - self.captured


class UsageRecord(models.Model):
    """One piece of work: its cost (`amount`), what was charged for it and from where.

    Append-only but for `refunded_at`, set once (the database refuses other changes)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: (account, created_at) leads with it.
    account = models.ForeignKey(
        TokenAccount, on_delete=models.PROTECT, related_name="usage", db_index=False
    )
    amount = models.BigIntegerField()
    charged = models.BigIntegerField()
    source = models.CharField(max_length=16, choices=UsageSource.choices)
    feature = models.CharField(max_length=64, blank=True, default="")
    description = models.CharField(max_length=500, blank=True, default="")
    reference = models.CharField(max_length=255, blank=True, default="")
    entry = models.OneToOneField(
        TokenTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="usage_record",
        help_text="The debit that charged it; none when a subscription covered it.",
    )
    hold = models.ForeignKey(
        Hold, on_delete=models.PROTECT, null=True, blank=True, related_name="captures"
    )
    idempotency_key = models.CharField(max_length=320, blank=True, default="")
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "usage"
        verbose_name_plural = "usage"
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=1, amount__lte=MAX_USAGE), name="tokens_usage_amount_range"
            ),
            models.CheckConstraint(
                condition=Q(charged__gte=0, charged__lte=F("amount")),
                name="tokens_usage_charged_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(source="subscription", charged=0, entry__isnull=True)
                | (~Q(source="subscription") & Q(charged__gt=0, entry__isnull=False)),
                name="tokens_usage_source_matches_charge",
            ),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="tokens_usage_account_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="tokens_usage_account_created"),
            # The admin's list, newest first across accounts, and its date filter (0022).
            models.Index(fields=["created_at"], name="tokens_usage_created"),
            models.Index(
                fields=["account", "feature", "created_at"], name="tokens_usage_account_feature"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature or 'usage'}: {self.charged} of {self.amount} ({self.source})"


class UnlimitedCoverage(models.Model):
    """A paid period of an unlimited plan: usage from `starts_at` until `ends_at` costs
    nothing. Billing announces it (billing.signals); a refund ends it (`revoked_at`)."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(TokenAccount, on_delete=models.PROTECT, related_name="coverage")
    subscription_id = models.UUIDField(unique=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "unlimited coverage"

    def __str__(self) -> str:
        return f"Unlimited usage {self.starts_at:%Y-%m-%d} to {self.ends_at or 'open'}"
