"""Invoices and what they pay for: subscriptions, add-on subscriptions and token purchases;
payment events as they arrived."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import AddOn, BillingPeriod, Currency, Plan, TokenBundle

MONEY = {"max_digits": 12, "decimal_places": 2}


def minor_units(amount: Decimal, places: int) -> int:
    """5.00 USD is 500; raises ValueError if the amount has more places than the currency."""
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {places} decimal places.")
    return int(scaled)


class InvoiceSequence(models.Model):
    """The last invoice number of each year; its row lock orders numbers by commit."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class Invoice(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    class Provider(models.TextChoices):
        PAYMENT = "payment", "Payment webhook"
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Marked paid by staff"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    subtotal = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    provider = models.CharField(max_length=16, choices=Provider.choices, blank=True, default="")
    payment_reference = models.CharField(max_length=255, blank=True, default="")
    idempotency_key = models.CharField(max_length=320, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    stripe_session_id = models.CharField(
        "Stripe Checkout Session", max_length=255, blank=True, default="", db_index=True
    )
    stripe_session_url = models.TextField(blank=True, default="")
    stripe_session_created_at = models.DateTimeField(null=True, blank=True)
    stripe_session_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(subtotal__gte=0), name="billing_invoice_subtotal_gte_0"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="billing_invoice_total_gte_0"),
            # A paid (or later refunded) invoice says when and by which payment.
            models.CheckConstraint(
                condition=Q(status__in=["pending", "cancelled"])
                | (Q(paid_at__isnull=False) & ~Q(payment_reference="") & ~Q(provider="")),
                name="billing_invoice_paid_has_payment",
            ),
            # One payment pays one invoice.
            models.UniqueConstraint(
                fields=["provider", "payment_reference"],
                condition=~Q(payment_reference=""),
                name="billing_invoice_payment_once",
            ),
            # A checkout retried with the same key finds its invoice.
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="billing_invoice_user_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="billing_invoice_user_newest"),
            models.Index(fields=["status", "created_at"], name="billing_invoice_status_age"),
        ]

    def __str__(self) -> str:
        return self.number

    def total_in_minor_units(self) -> int:
        """The total in cents (or the currency's smallest unit), exactly, as Stripe wants it."""
        return minor_units(self.total, self.currency.decimal_places)


class InvoiceLineItem(models.Model):
    class ItemType(models.TextChoices):
        SUBSCRIPTION = "subscription", "Subscription"
        TOKEN_BUNDLE = "token_bundle", "Token bundle"
        ADD_ON = "add_on", "Add-on"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="line_items")
    position = models.PositiveSmallIntegerField()
    item_type = models.CharField(max_length=16, choices=ItemType.choices)
    item_id = models.UUIDField()
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**MONEY)
    total_price = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="billing_line_quantity_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="billing_line_unit_price_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(total_price__gte=0), name="billing_line_total_gte_0"
            ),
            models.UniqueConstraint(
                fields=["invoice", "position"], name="billing_line_invoice_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.description}"


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
        indexes = [models.Index(fields=["user", "status"], name="billing_subscription_user")]

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
    unit_price = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    completed_at = models.DateTimeField(null=True, blank=True)
    tokens_reversed = models.BigIntegerField(
        default=0, help_text="Taken back from the balance when the invoice was refunded."
    )
    tokens_unrecovered = models.BigIntegerField(
        default=0, help_text="Already spent when the invoice was refunded, so not taken back."
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

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


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
