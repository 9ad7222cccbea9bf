"""Token accounts and the append-only ledger that explains every change of a balance."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TokenAccount(models.Model):
    """One per user, created with the first credit.

    `balance`, the totals and `entry_count` change only together with a new ledger entry, in
    one conditional UPDATE (tokens.services). `entry_count` is the number of the newest entry.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="token_account"
    )
    balance = models.BigIntegerField(default=0)
    total_purchased = models.BigIntegerField(
        default=0, help_text="Tokens bought, less those taken back by refunds."
    )
    total_spent = models.BigIntegerField(default=0, help_text="Tokens used, less usage given back.")
    entry_count = models.BigIntegerField(default=0)
    next_expiry_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "No lot with tokens left expires before this (it may be earlier than the true next "
            "expiry, never later): until then the balance holds no expired tokens."
        ),
    )
    held = models.BigIntegerField(
        default=0, help_text="Tokens reserved by active holds (until the sweep books expiries)."
    )
    next_hold_expiry_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="No active hold expires before this (a lower bound, like next_expiry_at).",
    )
    low_balance_threshold = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Below this balance `tokens.low_balance` is sent; empty: the default; 0: never.",
    )
    unlimited_until = models.DateTimeField(
        null=True, blank=True, help_text="Usage is covered by an unlimited plan until then."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="tokens_account_balance_gte_0"
            ),
            models.CheckConstraint(condition=Q(held__gte=0), name="tokens_account_held_gte_0"),
            models.CheckConstraint(
                condition=Q(total_purchased__gte=0), name="tokens_account_purchased_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(total_spent__gte=0), name="tokens_account_spent_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(entry_count__gte=0), name="tokens_account_entry_count_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.balance} tokens)"


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove a ledger entry."""


class TokenTransactionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Ledger entries cannot be updated; append a correcting entry.")

    def delete(self):
        raise AppendOnlyError("Ledger entries cannot be deleted; append a correcting entry.")


class TokenTransaction(models.Model):
    """One ledger entry. Never updated or deleted: the ORM refuses and so does the database."""

    class Type(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        USAGE = "usage", "Usage"
        REFUND = "refund", "Usage refund"
        ADJUSTMENT = "adjustment", "Adjustment"
        REVERSAL = "reversal", "Purchase reversal"
        GRANT = "grant", "Grant"
        EXPIRATION = "expiration", "Expiration"
        VOID = "void", "Void"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: (account, number) and the other account indexes lead with it.
    account = models.ForeignKey(
        TokenAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    number = models.BigIntegerField(help_text="1, 2, 3... per account, in the order applied.")
    amount = models.BigIntegerField(help_text="Positive credits, negative debits.")
    transaction_type = models.CharField(max_length=16, choices=Type.choices)
    reference_type = models.CharField(max_length=32, blank=True, default="")
    reference_id = models.CharField(max_length=255, blank=True, default="")
    description = models.CharField(max_length=500, blank=True, default="")
    balance_after = models.BigIntegerField()
    idempotency_key = models.CharField(
        max_length=320,
        blank=True,
        default="",
        help_text="Origin and the caller's key, e.g. consume:<key>; unique per account.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member, for adjustments and refunds.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TokenTransactionQuerySet.as_manager()

    class Meta:
        constraints = [
            # Newest-first history per account is a backward scan of this index.
            models.UniqueConstraint(
                fields=["account", "number"], name="tokens_entry_account_number"
            ),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="tokens_entry_account_idempotency_key",
            ),
            # Each purchase is credited once and reversed once; each usage is refunded once.
            # (A lot can expire or be voided again: tokens a usage refund gives back to it.)
            models.UniqueConstraint(
                fields=["transaction_type", "reference_type", "reference_id"],
                condition=Q(transaction_type__in=["purchase", "reversal", "refund"]),
                name="tokens_entry_once_per_reference",
            ),
            models.CheckConstraint(
                condition=~Q(
                    transaction_type__in=["purchase", "reversal", "refund", "expiration", "void"]
                )
                | ~Q(reference_id=""),
                name="tokens_entry_reference_required",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="tokens_entry_amount_not_0"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="tokens_entry_balance_after_gte_0"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="tokens_entry_number_gte_1"),
            models.CheckConstraint(
                condition=(
                    Q(transaction_type__in=["purchase", "refund", "grant"], amount__gt=0)
                    | Q(
                        transaction_type__in=["usage", "reversal", "expiration", "void"],
                        amount__lt=0,
                    )
                    | Q(transaction_type="adjustment")
                ),
                name="tokens_entry_sign_matches_type",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="tokens_entry_account_created"),
            # The admin's list, newest first across accounts, and its date filter (0021).
            models.Index(fields=["created_at"], name="tokens_entry_created"),
            # History filtered by type, newest first, without walking the other types.
            models.Index(
                fields=["account", "transaction_type", "number"], name="tokens_entry_account_type"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.amount:+d} → {self.balance_after}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Ledger entries cannot be changed; append a correcting entry.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Ledger entries cannot be deleted; append a correcting entry.")
