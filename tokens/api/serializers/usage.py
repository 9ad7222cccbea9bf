"""Usage and holds in and out. Answers are built as plain dicts (usage_body, hold_body): the
serializers below describe them for the schema and validate input."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from rest_framework import serializers

from common.api.fields import (
    FlagField,
    StrictIntegerField,
    TextField,
    TimeField,
    api_time,
    created_range_checked,
)
from common.api.pagination import PageQuerySerializer, page_serializer
from common.api.serializers import RequestSerializer
from tokens.ledger import Taken
from tokens.models import MAX_USAGE, Hold, LotCategory, UsageRecord, UsageSource
from tokens.services.holds import MAX_TTL_SECONDS


class UsageAllocationSerializer(serializers.Serializer):
    lot_id = serializers.UUIDField()
    category = serializers.ChoiceField(choices=LotCategory.choices)
    amount = serializers.IntegerField(help_text="Tokens this lot paid.")


class UsageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    amount = serializers.IntegerField()
    charged = serializers.IntegerField(help_text="0 when an unlimited plan covered it.")
    source = serializers.ChoiceField(choices=UsageSource.choices)
    feature = serializers.CharField()
    allocations = UsageAllocationSerializer(many=True)
    refunded_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class BalanceAfterSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    available = serializers.IntegerField()


class UsageResponseSerializer(serializers.Serializer):
    usage = UsageSerializer()
    balance = BalanceAfterSerializer()


UsagePageSerializer = page_serializer(UsageSerializer(many=True), "UsagePage")


class UsageRequestSerializer(RequestSerializer):
    amount = StrictIntegerField(min_value=1, max_value=MAX_USAGE, default=1)
    feature = TextField(min_length=1, max_length=64, required=False)
    description = TextField(max_length=500, required=False, allow_blank=True)
    reference = TextField(max_length=255, required=False, allow_blank=True)


class UsageQuerySerializer(PageQuerySerializer):
    feature = TextField(max_length=64, required=False)
    created_after = TimeField(required=False, help_text="Inclusive.")
    created_before = TimeField(required=False, help_text="Exclusive.")

    def validate(self, data: dict) -> dict:
        return created_range_checked(data)


class HoldSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    amount = serializers.IntegerField()
    captured = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Hold.Status.choices)
    expires_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=Hold.Source.choices)
    feature = serializers.CharField()
    created_at = serializers.DateTimeField()


class HoldResponseSerializer(serializers.Serializer):
    hold = HoldSerializer()
    balance = BalanceAfterSerializer(required=False)


class HoldCaptureResponseSerializer(serializers.Serializer):
    hold = HoldSerializer()
    usage = UsageSerializer()


HoldPageSerializer = page_serializer(HoldSerializer(many=True), "HoldPage")


class HoldRequestSerializer(RequestSerializer):
    amount = StrictIntegerField(min_value=1, max_value=MAX_USAGE)
    ttl_seconds = StrictIntegerField(min_value=1, max_value=MAX_TTL_SECONDS, default=3600)
    feature = TextField(min_length=1, max_length=64, required=False)
    reference = TextField(max_length=255, required=False, allow_blank=True)


class HoldCaptureRequestSerializer(RequestSerializer):
    amount = StrictIntegerField(min_value=1, max_value=MAX_USAGE)
    final = FlagField(default=True)


class HoldQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=Hold.Status.choices, required=False)


class InsufficientTokensErrorSerializer(serializers.Serializer):
    """402 `insufficient_tokens`: the error shape with how short the user is."""

    error = serializers.CharField()
    code = serializers.CharField()
    balance = serializers.IntegerField()
    available = serializers.IntegerField()
    needed = serializers.IntegerField()


def usage_body(usage: UsageRecord, *, user_id: UUID, taken: list[Taken] | None = None) -> dict:
    """The usage as the API answers it; `taken` from the debit that just happened, else the
    allocations of its entry (prefetched by the selectors)."""
    if taken is None:
        taken = (
            [Taken(a.lot_id, a.lot.category, -a.amount) for a in usage.entry.allocations.all()]
            if usage.entry_id
            else []
        )
    return {
        "id": str(usage.pk),
        "user_id": str(user_id),
        "amount": usage.amount,
        "charged": usage.charged,
        "source": usage.source,
        "feature": usage.feature,
        "allocations": [
            {"lot_id": str(t.lot_id), "category": t.category, "amount": t.amount} for t in taken
        ],
        "refunded_at": api_time(usage.refunded_at),
        "created_at": api_time(usage.created_at),
    }


def hold_body(hold: Hold, *, now: datetime) -> dict:
    """An active hold past its `expires_at` is expired already, swept or not."""
    expired = hold.status == Hold.Status.ACTIVE and hold.expires_at <= now
    return {
        "id": str(hold.pk),
        "amount": hold.amount,
        "captured": hold.captured,
        "status": Hold.Status.EXPIRED if expired else hold.status,
        "expires_at": api_time(hold.expires_at),
        "source": hold.source,
        "feature": hold.feature,
        "created_at": api_time(hold.created_at),
    }
