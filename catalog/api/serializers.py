from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from rest_framework import serializers

from catalog.models import (
    DESCRIPTION_MAX_LENGTH,
    PLAN_PERIOD_CHOICES,
    AddOn,
    BillingPeriod,
    Currency,
    Plan,
    TokenBundle,
    UsageMode,
)
from catalog.services import validate_currency
from common.api.fields import (
    FlagField,
    MoneyField,
    StrictIntegerField,
    TextField,
    UUIDStringField,
)
from common.errors import Invalid

PRICE_LIMIT = Decimal("100000000")
INT32_MAX = 2_147_483_647
# The lowest value an integer column holds, which the admin accepts: an item read from the
# API can always be written back as it is.
INT32_MIN = -INT32_MAX - 1


class CurrencySerializer(serializers.ModelSerializer):
    class Meta:
        model = Currency
        fields = ["id", "code", "symbol"]


# Responses.


class PublicAddOnSerializer(serializers.ModelSerializer):
    price = MoneyField()
    currency = CurrencySerializer()

    class Meta:
        model = AddOn
        fields = [
            "id",
            "name",
            "description",
            "price",
            "currency",
            "billing_period",
            "is_active",
            "sort_order",
        ]


class PublicPlanSerializer(PublicAddOnSerializer):
    class Meta(PublicAddOnSerializer.Meta):
        model = Plan
        fields = [*PublicAddOnSerializer.Meta.fields, "included_tokens", "usage_mode"]


class StaffAddOnSerializer(PublicAddOnSerializer):
    class Meta(PublicAddOnSerializer.Meta):
        fields = [*PublicAddOnSerializer.Meta.fields, "created_at", "updated_at", "version"]


class StaffPlanSerializer(StaffAddOnSerializer):
    class Meta(StaffAddOnSerializer.Meta):
        model = Plan
        fields = [*StaffAddOnSerializer.Meta.fields, "included_tokens", "usage_mode"]


class StaffTokenBundleSerializer(serializers.ModelSerializer):
    price = MoneyField()
    currency = CurrencySerializer()
    price_per_token = serializers.DecimalField(max_digits=14, decimal_places=4, read_only=True)

    class Meta:
        model = TokenBundle
        fields = [
            "id",
            "name",
            "description",
            "token_amount",
            "expires_after_days",
            "price",
            "currency",
            "price_per_token",
            "sort_order",
            "is_active",
            "created_at",
            "updated_at",
            "version",
        ]


class TokenBundleOfferSerializer(StaffTokenBundleSerializer):
    """A bundle as the public listing shows it, compared with the others on sale."""

    price_per_token = serializers.DecimalField(
        source="offer.price_per_token", max_digits=14, decimal_places=4
    )
    savings_percent = serializers.IntegerField(source="offer.savings_percent")
    is_best_value = serializers.BooleanField(source="offer.is_best_value")

    class Meta(StaffTokenBundleSerializer.Meta):
        _after = StaffTokenBundleSerializer.Meta.fields.index("price_per_token") + 1
        fields = [
            *StaffTokenBundleSerializer.Meta.fields[:_after],
            "savings_percent",
            "is_best_value",
            *StaffTokenBundleSerializer.Meta.fields[_after:],
        ]


class TokenBundleOfferListSerializer(serializers.Serializer):
    items = TokenBundleOfferSerializer(many=True)


class PublicAddOnListSerializer(serializers.Serializer):
    items = PublicAddOnSerializer(many=True)


class PublicPlanListSerializer(serializers.Serializer):
    items = PublicPlanSerializer(many=True)


# Requests.


class CatalogItemWriteSerializer(serializers.Serializer):
    """Staff create and change. Unknown and read-only fields are ignored, as DRF does."""

    name = TextField(max_length=255)
    description = TextField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False)
    price = MoneyField()
    currency_id = UUIDStringField(required=False)
    is_active = FlagField(required=False)
    sort_order = StrictIntegerField(required=False, min_value=INT32_MIN, max_value=INT32_MAX)
    # Unbounded: any whole number that is not the item's current version (0 and below
    # included, which no item ever had) is the contract's 409 version_conflict, not a 400.
    version = StrictIntegerField(
        required=False,
        write_only=True,
        help_text="On change: the version you read; another one is a 409 version_conflict.",
    )

    def __init__(self, *args, **kwargs) -> None:
        """A create (not partial) has no version to check: one sent is ignored, as other
        read-only fields are, whatever its value."""
        super().__init__(*args, **kwargs)
        if not self.partial:
            self.fields.pop("version")

    def validate_currency_id(self, currency_id: UUID) -> UUID:
        """Checked with the other fields (the service checks it again), so that a body with
        another currency and a blank name names both."""
        try:
            validate_currency(currency_id)
        except Invalid as refusal:
            raise serializers.ValidationError(refusal.messages) from refusal
        return currency_id

    def validate_price(self, price: Decimal) -> Decimal:
        if not 0 < price < PRICE_LIMIT:
            raise serializers.ValidationError("Must be greater than 0 and less than 100000000.")
        return price


class TokenBundleWriteSerializer(CatalogItemWriteSerializer):
    token_amount = StrictIntegerField(min_value=1, max_value=INT32_MAX)
    expires_after_days = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=3650,
        help_text="Bought tokens expire this many days after payment; null: never.",
    )


class AddOnWriteSerializer(CatalogItemWriteSerializer):
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices)


class PlanWriteSerializer(CatalogItemWriteSerializer):
    billing_period = serializers.ChoiceField(choices=PLAN_PERIOD_CHOICES)
    included_tokens = StrictIntegerField(required=False, min_value=0, max_value=INT32_MAX)
    usage_mode = serializers.ChoiceField(choices=UsageMode.choices, required=False)
