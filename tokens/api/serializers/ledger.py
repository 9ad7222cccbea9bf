from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.fields import (
    NonZeroIntegerField,
    StrictIntegerField,
    TextField,
    TimeField,
    api_time,
    created_range_checked,
)
from common.api.pagination import PageQuerySerializer, page_serializer
from common.api.serializers import RequestSerializer
from tokens.models import LotCategory, TokenLot, TokenTransaction
from tokens.selectors import LOT_STATUSES, Balance, lot_status
from tokens.services.lots import GRANTABLE, MAX_GRANT, grant_expiry_refusal

MAX_CONSUME = 1_000_000
MAX_ADJUST = 1_000_000_000


class ByCategorySerializer(serializers.Serializer):
    trial = serializers.IntegerField()
    promotional = serializers.IntegerField()
    included = serializers.IntegerField()
    paid = serializers.IntegerField()


class ExpiringSerializer(serializers.Serializer):
    amount = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class BalanceSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Tokens in lots that have not expired.")
    available = serializers.IntegerField(
        help_text=(
            "The balance less active holds; below 0 when lots expired, were voided or taken "
            "back under the holds (not clamped)."
        )
    )
    held = serializers.IntegerField()
    total_purchased = serializers.IntegerField()
    total_spent = serializers.IntegerField()
    by_category = ByCategorySerializer()
    expiring = ExpiringSerializer(
        many=True, help_text="Lots expiring in the next 30 days, soonest first, at most 5."
    )
    updated_at = serializers.DateTimeField(allow_null=True)


def balance_body(balance: Balance) -> dict:
    """BalanceSerializer's answer as a plain dict: the balance is read on every page load."""
    return {
        "balance": balance.balance,
        "available": balance.available,
        "held": balance.held,
        "total_purchased": balance.total_purchased,
        "total_spent": balance.total_spent,
        "by_category": dict(balance.by_category),
        "expiring": [
            {"amount": soon.amount, "expires_at": api_time(soon.expires_at)}
            for soon in balance.expiring
        ],
        "updated_at": api_time(balance.updated_at),
    }


def entry_body(entry: TokenTransaction) -> dict:
    """TokenTransactionSerializer's answer as a plain dict, for consume."""
    return {
        "id": str(entry.pk),
        "amount": entry.amount,
        "transaction_type": entry.transaction_type,
        "reference_id": entry.reference_id,
        "description": entry.description,
        "balance_after": entry.balance_after,
        "created_at": api_time(entry.created_at),
    }


class TokenTransactionSerializer(serializers.Serializer):
    """A ledger entry. Plain fields, not a ModelSerializer: this is on the consume hot path."""

    id = serializers.UUIDField()
    amount = serializers.IntegerField(help_text="Positive credits, negative debits.")
    transaction_type = serializers.ChoiceField(choices=TokenTransaction.Type.choices)
    reference_id = serializers.CharField()
    description = serializers.CharField()
    balance_after = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class StaffTokenTransactionSerializer(TokenTransactionSerializer):
    reference_type = serializers.CharField()
    user_id = serializers.UUIDField(source="account.user_id")
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True)


class CursorField(serializers.CharField):
    """An opaque position in the history. Empty starts from the newest entry."""

    default_error_messages = {"malformed": "Not a cursor this API gave out."}
    # Given out without padding; a client that pads it again is understood.
    SPELLING = re.compile(r"[A-Za-z0-9_-]+={0,2}")

    @staticmethod
    def encode(number: int) -> str:
        return base64.urlsafe_b64encode(f"n:{number}".encode()).decode().rstrip("=")

    def run_validation(self, data=serializers.empty) -> int | None:
        # Trimmed, whitespace alone is empty too: CharField would answer it "", not a number.
        if isinstance(data, str) and data.strip() == "":
            return None
        return super().run_validation(data)

    def to_internal_value(self, data) -> int:
        text = super().to_internal_value(data)
        # The URL-safe alphabet only: base64 would skip anything else ("bjox!!" read as "bjox").
        if len(text) > 64 or not self.SPELLING.fullmatch(text):
            self.fail("malformed")
        text = text.rstrip("=")
        try:
            decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            self.fail("malformed")
        prefix, _, number = decoded.partition(":")
        if prefix != "n" or not (number.isascii() and number.isdigit()) or int(number) < 1:
            self.fail("malformed")
        return int(number)


class HistoryQuerySerializer(PageQuerySerializer):
    type = serializers.ChoiceField(choices=TokenTransaction.Type.choices, required=False)
    created_after = TimeField(required=False, help_text="Inclusive.")
    created_before = TimeField(required=False, help_text="Exclusive.")
    cursor = CursorField(
        required=False,
        allow_blank=True,
        help_text="Key paging: `next_cursor` from the previous answer; empty for the newest.",
    )
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    def validate(self, data: dict) -> dict:
        created_range_checked(data)
        if "cursor" in data and "page" in self.initial_data:
            raise serializers.ValidationError({"cursor": ["Use either cursor or page, not both."]})
        return data


class HistoryPageSerializer(serializers.Serializer):
    """A numbered page, or with `cursor` a key page: one shape, so that the schema cannot
    match an answer two ways; the numbered page's own fields are absent from a key page."""

    items = TokenTransactionSerializer(many=True)
    total = serializers.IntegerField(required=False, help_text="Numbered pages only.")
    page = serializers.IntegerField(required=False, help_text="Numbered pages only.")
    per_page = serializers.IntegerField()
    pages = serializers.IntegerField(required=False, help_text="Numbered pages only.")
    next_cursor = serializers.CharField(allow_null=True)


class ConsumeRequestSerializer(RequestSerializer):
    amount = StrictIntegerField(min_value=1, max_value=MAX_CONSUME)
    description = TextField(max_length=500, required=False, allow_blank=True)
    reference = TextField(max_length=255, required=False, allow_blank=True)


class ConsumeResponseSerializer(serializers.Serializer):
    transaction = TokenTransactionSerializer(
        allow_null=True, help_text="The debit; null when an unlimited plan covered the usage."
    )
    balance = serializers.IntegerField(help_text="The balance after this debit.")


class AdjustRequestSerializer(serializers.Serializer):
    amount = NonZeroIntegerField(
        min_value=-MAX_ADJUST,
        max_value=MAX_ADJUST,
        help_text="Signed; not 0.",
        error_messages={"zero": "An adjustment cannot be 0."},
    )
    reason = TextField(max_length=500)


class AllocationSerializer(serializers.Serializer):
    lot_id = serializers.UUIDField()
    category = serializers.ChoiceField(choices=LotCategory.choices, source="lot.category")
    amount = serializers.IntegerField(help_text="This entry's change to the lot's remaining.")


class TokenTransactionDetailSerializer(TokenTransactionSerializer):
    allocations = AllocationSerializer(many=True, source="allocations.all")


class LotSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    category = serializers.ChoiceField(choices=LotCategory.choices)
    amount = serializers.IntegerField()
    remaining = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)
    priority = serializers.IntegerField()
    source_type = serializers.CharField()
    source_id = serializers.CharField()
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=LOT_STATUSES))
    def get_status(self, lot: TokenLot) -> str:
        return lot_status(lot, now=self.context["now"])


class StaffLotSerializer(LotSerializer):
    user_id = serializers.UUIDField(source="account.user_id")


LotPageSerializer = page_serializer(LotSerializer(many=True), "LotPage")


class LotQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=LOT_STATUSES, required=False)
    category = serializers.ChoiceField(choices=LotCategory.choices, required=False)


class GrantRequestSerializer(serializers.Serializer):
    amount = StrictIntegerField(min_value=1, max_value=MAX_GRANT)
    category = serializers.ChoiceField(choices=GRANTABLE, default=LotCategory.PROMOTIONAL)
    expires_at = TimeField(
        required=False, allow_null=True, help_text="In the future; empty: never expires."
    )
    priority = StrictIntegerField(min_value=0, max_value=100, default=50)
    reason = TextField(max_length=500)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """An `expires_at` that lot_grant would refuse is named with the other fields
        refused (lot_grant checks it once they pass), so staff correct them all at once."""
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            sent = data.get("expires_at") if isinstance(data, Mapping) else None
            if isinstance(error.detail, dict) and "expires_at" not in error.detail and sent:
                refusal = grant_expiry_refusal(self.fields["expires_at"].run_validation(sent))
                if refusal:
                    error.detail["expires_at"] = [refusal]
            raise


class VoidRequestSerializer(serializers.Serializer):
    reason = TextField(max_length=500)
