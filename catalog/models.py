"""What is for sale: token bundles, plans and add-ons, all priced in the default currency."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

PRICE_PER_TOKEN_STEP = Decimal("0.0001")
# What the staff API takes and the admin's form, and the database, hold to: an item read
# from the API can always be written back as it is.
DESCRIPTION_MAX_LENGTH = 5000


class Currency(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=3, unique=True, help_text="ISO 4217, e.g. USD.")
    symbol = models.CharField(max_length=8)
    decimal_places = models.PositiveSmallIntegerField(
        default=2, help_text="Minor-unit places: 2 for USD, 0 for JPY."
    )
    is_default = models.BooleanField(
        default=False, help_text="Everything is priced in the one default currency."
    )

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "currencies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="catalog_currency_one_default",
                violation_error_message="Only one currency can be the default.",
            ),
            models.CheckConstraint(
                condition=Q(decimal_places__lte=2), name="catalog_currency_places_at_most_2"
            ),
            models.CheckConstraint(
                condition=Q(code__regex=r"^[A-Z]{3}$"), name="catalog_currency_code_iso"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class BillingPeriod(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    YEARLY = "yearly", "Yearly"
    ONE_TIME = "one_time", "One time"


PLAN_PERIODS = [BillingPeriod.MONTHLY, BillingPeriod.YEARLY]
PLAN_PERIOD_CHOICES = [(period.value, period.label) for period in PLAN_PERIODS]


class CatalogItem(models.Model):
    """Fields every sellable item shares. `version` grows by one with every change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="", max_length=DESCRIPTION_MAX_LENGTH)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True, db_index=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True
        ordering = ["sort_order", "price", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gt=0), name="%(app_label)s_%(class)s_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(LessThanOrEqual(Length("description"), DESCRIPTION_MAX_LENGTH)),
                name="%(app_label)s_%(class)s_description_at_most_5000",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TokenBundle(CatalogItem):
    token_amount = models.IntegerField()
    expires_after_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Bought tokens expire this many days after payment (1..3650); empty: never.",
    )

    class Meta(CatalogItem.Meta):
        constraints = [
            *CatalogItem.Meta.constraints,
            models.CheckConstraint(
                condition=Q(token_amount__gt=0), name="catalog_tokenbundle_tokens_positive"
            ),
            models.CheckConstraint(
                condition=Q(expires_after_days__isnull=True)
                | Q(expires_after_days__gte=1, expires_after_days__lte=3650),
                name="catalog_tokenbundle_expiry_1_to_3650_days",
            ),
        ]

    @property
    def price_per_token(self) -> Decimal:
        return (self.price / self.token_amount).quantize(
            PRICE_PER_TOKEN_STEP, rounding=ROUND_HALF_UP
        )


class AddOn(CatalogItem):
    billing_period = models.CharField(max_length=16, choices=BillingPeriod.choices)

    class Meta(CatalogItem.Meta):
        verbose_name = "add-on"
        constraints = [
            *CatalogItem.Meta.constraints,
            models.CheckConstraint(
                condition=Q(billing_period__in=BillingPeriod.values),
                name="catalog_addon_billing_period_valid",
            ),
        ]


class UsageMode(models.TextChoices):
    METERED = "metered", "Metered: usage costs tokens"
    UNLIMITED = "unlimited", "Unlimited: usage is covered while subscribed"


class Plan(CatalogItem):
    billing_period = models.CharField(max_length=16, choices=PLAN_PERIOD_CHOICES)
    included_tokens = models.IntegerField(
        default=0, help_text="Tokens granted for each paid period; they expire when it ends."
    )
    usage_mode = models.CharField(
        max_length=16, choices=UsageMode.choices, default=UsageMode.METERED
    )

    class Meta(CatalogItem.Meta):
        constraints = [
            *CatalogItem.Meta.constraints,
            models.CheckConstraint(
                condition=Q(included_tokens__gte=0), name="catalog_plan_included_tokens_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(usage_mode__in=UsageMode.values), name="catalog_plan_usage_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(billing_period__in=[period.value for period in PLAN_PERIODS]),
                name="catalog_plan_billing_period_valid",
            ),
        ]


class CatalogVersion(models.Model):
    """One row whose `version` the database raises with every write to the catalog's tables
    (triggers of migration 0004, on PostgreSQL and SQLite): what the public listings' cache
    is keyed by, so that it is right the instant staff change anything, however they do.

    A write that finds the row gone (a test's flush) makes it again with a new `epoch`, so a
    version number seen before the row went cannot be mistaken for one after."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    epoch = models.CharField(max_length=32)
    version = models.BigIntegerField(default=1)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="catalog_version_single_row"),
        ]

    def __str__(self) -> str:
        return f"catalog version {self.version}"
