"""What an invoice buys: subscriptions, add-on subscriptions and token purchases."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from billing.models.invoices import MONEY, Invoice
from catalog.models import AddOn, BillingPeriod, Plan, TokenBundle, UsageMode


class ItemStatus(models.TextChoices):
    """Subscriptions and add-on subscriptions."""

    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class Subscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="subscriptions")
    plan_name = models.CharField(max_length=255)
    billing_period = models.CharField(max_length=16, choices=BillingPeriod.choices)
    price = models.DecimalField(**MONEY)
    included_tokens = models.IntegerField(
        default=0, help_text="The plan's tokens for this period, as sold."
    )
    usage_mode = models.CharField(
        max_length=16,
        choices=UsageMode.choices,
        default=UsageMode.METERED,
        help_text="As sold: unlimited covers usage while the subscription is active.",
    )
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "cancelled"]) | Q(starts_at__isnull=False),
                name="billing_subscription_started",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "status"], name="billing_subscription_user"),
            # The minute's expiry sweep (subscriptions_expire, migration 0013).
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="billing_plan_active_end",
            ),
            # reconcile_purchases' hourly paid_invoices_incomplete (migration 0015).
            models.Index(
                fields=["invoice"], condition=Q(status="pending"), name="billing_plan_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_name} ({self.status})"


class AddOnSubscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="add_on_subscriptions"
    )
    add_on = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="subscriptions")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="add_ons")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="add_on_subscriptions"
    )
    name = models.CharField(max_length=255)
    billing_period = models.CharField(max_length=16, choices=BillingPeriod.choices)
    unit_price = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty for one-time add-ons: they do not expire."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "add-on subscription"
        # The minute's expiry sweep (subscriptions_expire, migration 0013).
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="billing_add_on_active_end",
            ),
            # reconcile_purchases' hourly paid_invoices_incomplete (migration 0015).
            models.Index(
                fields=["invoice"], condition=Q(status="pending"), name="billing_add_on_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class TokenBundlePurchase(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        REFUNDED = "refunded", "Refunded"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="token_purchases"
    )
    bundle = models.ForeignKey(TokenBundle, on_delete=models.PROTECT, related_name="purchases")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="token_purchases")
    name = models.CharField(max_length=255)
    tokens = models.BigIntegerField()
    tokens_expire_after_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="As sold: the tokens expire this long after payment."
    )
    unit_price = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    completed_at = models.DateTimeField(null=True, blank=True)
    tokens_reversed = models.BigIntegerField(
        default=0, help_text="Taken back from the balance when the invoice was refunded."
    )
    tokens_unrecovered = models.BigIntegerField(
        default=0,
        help_text=(
            "Spent or expired when the invoice was refunded, so not taken back (tokens staff"
            " voided before the refund are not counted)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(tokens__gt=0), name="billing_purchase_tokens_gt_0"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="billing_purchase_unit_price_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "cancelled"]) | Q(completed_at__isnull=False),
                name="billing_purchase_completed_at",
            ),
            models.CheckConstraint(
                condition=Q(tokens_reversed__gte=0, tokens_unrecovered__gte=0),
                name="billing_purchase_reversal_gte_0",
            ),
        ]
        # reconcile_purchases' hourly paid_invoices_incomplete (migration 0015).
        indexes = [
            models.Index(
                fields=["invoice"], condition=Q(status="pending"), name="billing_purchase_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"
