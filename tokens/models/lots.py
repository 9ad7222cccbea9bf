"""Lots: every credit arrives as a lot that debits burn in one fixed order, and allocations:
which lot each entry took from or gave back to.

A lot is immutable but for `remaining` and the moments it was expired or voided (the database
refuses other changes). Allocations are append-only. For every lot, `remaining` = the sum of
its allocations (the first is the credit that created it); for every entry, the sum of its
allocations is its amount. `manage.py ledger_check` verifies both.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from tokens.models.ledger import AppendOnlyError, TokenAccount, TokenTransaction


class LotCategory(models.TextChoices):
    TRIAL = "trial", "Trial"
    PROMOTIONAL = "promotional", "Promotional"
    INCLUDED = "included", "Included with a plan"
    PAID = "paid", "Paid"


# Among lots of equal priority and expiry, free tokens burn before bought ones.
CATEGORY_ORDER = [
    LotCategory.TRIAL,
    LotCategory.PROMOTIONAL,
    LotCategory.INCLUDED,
    LotCategory.PAID,
]


class TokenLot(models.Model):
    """One credit's tokens. Burn order: `priority` ascending, `expires_at` soonest first (never
    last), category (CATEGORY_ORDER), oldest first, then id (tokens.ledger.burn.burn_key)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: (account, created_at) leads with it.
    account = models.ForeignKey(
        TokenAccount, on_delete=models.PROTECT, related_name="lots", db_index=False
    )
    category = models.CharField(max_length=16, choices=LotCategory.choices)
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    priority = models.SmallIntegerField(default=50, help_text="0..100; lower burns first.")
    source_type = models.CharField(max_length=32)
    source_id = models.CharField(max_length=255, blank=True, default="")
    credit = models.OneToOneField(
        TokenTransaction,
        on_delete=models.PROTECT,
        related_name="lot",
        help_text="The ledger entry that brought these tokens.",
    )
    expired_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sweep last booked its expiry."
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(
        null=True, blank=True, help_text="When `lot.expiring_soon` was sent for it."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "token lot"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="tokens_lot_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("amount")),
                name="tokens_lot_remaining_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=0, priority__lte=100),
                name="tokens_lot_priority_0_to_100",
            ),
            models.CheckConstraint(
                condition=Q(category__in=LotCategory.values), name="tokens_lot_category_known"
            ),
        ]
        indexes = [
            # The lots a debit may burn: an account's with tokens left (a small set).
            models.Index(fields=["account"], condition=Q(remaining__gt=0), name="tokens_lot_live"),
            # The sweep: lots with tokens left whose time has come.
            models.Index(
                fields=["expires_at"],
                condition=Q(remaining__gt=0, expires_at__isnull=False),
                name="tokens_lot_expiring",
            ),
            models.Index(fields=["account", "created_at"], name="tokens_lot_account_created"),
            models.Index(fields=["source_type", "source_id"], name="tokens_lot_source"),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} lot: {self.remaining} of {self.amount}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class TokenAllocationQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Allocations cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Allocations cannot be deleted.")


class TokenAllocation(models.Model):
    """How one ledger entry changed one lot: `amount` is added to the lot's `remaining`
    (negative for a debit, an expiry or a void; positive for the credit that created the lot
    and for a usage refund giving tokens back). Append-only, and the database refuses an
    allocation between an entry and a lot of different accounts."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (entry, lot) index leads with it.
    entry = models.ForeignKey(
        TokenTransaction, on_delete=models.PROTECT, related_name="allocations", db_index=False
    )
    lot = models.ForeignKey(TokenLot, on_delete=models.PROTECT, related_name="allocations")
    amount = models.BigIntegerField()

    objects = TokenAllocationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="tokens_allocation_amount_not_0"),
            models.UniqueConstraint(fields=["entry", "lot"], name="tokens_allocation_entry_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} on lot {self.lot_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Allocations cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Allocations cannot be deleted.")
