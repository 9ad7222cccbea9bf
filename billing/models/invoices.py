"""Invoices, their line items and their numbers."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Currency

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
        TEST = "test", "Test payment (no money)"

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
            # The admin's list, newest first, and its date filter (migration 0008).
            models.Index(fields=["created_at"], name="billing_invoice_created"),
            # reconcile_purchases' hourly sessions_unconfirmed (migrations 0007 and 0009).
            models.Index(
                fields=["stripe_session_expires_at"],
                condition=Q(status="cancelled", stripe_session_expires_at__isnull=False),
                name="billing_cancelled_session",
            ),
            models.Index(
                fields=["stripe_session_expires_at"],
                condition=Q(
                    Q(status__in=["paid", "refunded"]),
                    ~Q(provider="stripe"),
                    stripe_session_expires_at__isnull=False,
                ),
                name="billing_paid_elsewhere_session",
            ),
            # reconcile_purchases' hourly paid_invoices_verify (migration 0014).
            models.Index(
                fields=["paid_at"],
                condition=Q(status="paid", provider="stripe"),
                name="billing_invoice_stripe_paid",
            ),
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
