from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import (
    AddOnSubscription,
    Invoice,
    InvoiceLineItem,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.receipts import receipt_exists
from catalog.api.serializers import CurrencySerializer
from common.api.fields import MoneyField, TextField, UUIDStringField
from common.api.pagination import PageQuerySerializer
from common.api.serializers import RequestSerializer

# Requests.


class CheckoutRequestSerializer(RequestSerializer):
    """Prices, totals and anything else in the body are ignored: prices come from the catalog."""

    plan_id = UUIDStringField(required=False, allow_null=True)
    token_bundle_ids = serializers.ListField(
        child=UUIDStringField(), required=False, default=list, max_length=100
    )
    add_on_ids = serializers.ListField(
        child=UUIDStringField(), required=False, default=list, max_length=100
    )


class InvoiceListQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=Invoice.Status.choices, required=False)


class StaffInvoiceListQuerySerializer(InvoiceListQuerySerializer):
    user = UUIDStringField(required=False, help_text="A user's id.")


class MarkPaidRequestSerializer(serializers.Serializer):
    payment_reference = TextField(max_length=255)


class PayRequestSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(
        choices=[Invoice.Provider.STRIPE, Invoice.Provider.TEST],
        help_text="`test` only while the server runs with PAYMENTS_TEST_MODE=1; else a 400.",
    )


class PaymentWebhookRequestSerializer(serializers.Serializer):
    """Documents the webhook's body; the view verifies the raw bytes before parsing them."""

    event_id = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=255,
        help_text="The provider's event id; absent or empty: none (each delivery on its own).",
    )
    invoice_id = serializers.UUIDField()
    payment_reference = serializers.CharField(max_length=255)
    amount = MoneyField(max_digits=22, decimal_places=2)
    currency = serializers.CharField(min_length=3, max_length=3)


# Responses.


class InvoiceLineItemSerializer(serializers.ModelSerializer):
    unit_price = MoneyField(currency_path="invoice.currency")
    total_price = MoneyField(currency_path="invoice.currency")

    class Meta:
        model = InvoiceLineItem
        fields = [
            "id",
            "item_type",
            "item_id",
            "description",
            "quantity",
            "unit_price",
            "total_price",
        ]


class InvoiceSerializer(serializers.ModelSerializer):
    currency = CurrencySerializer()
    subtotal = MoneyField()
    total_amount = MoneyField(source="total")
    line_items = InvoiceLineItemSerializer(many=True)
    pdf_url = serializers.SerializerMethodField(
        help_text="The PDF receipt (paid and refunded invoices); null until there is one."
    )
    pdf_route = "billing:invoice-pdf"

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "status",
            "currency",
            "subtotal",
            "total_amount",
            "line_items",
            "created_at",
            "paid_at",
            "payment_reference",
            "pdf_url",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_pdf_url(self, invoice: Invoice) -> str | None:
        return reverse(self.pdf_route, args=[invoice.pk]) if receipt_exists(invoice) else None


class StaffPurchaseSerializer(serializers.ModelSerializer):
    unit_price = MoneyField(currency_path="invoice.currency")

    class Meta:
        model = TokenBundlePurchase
        fields = [
            "id",
            "name",
            "tokens",
            "unit_price",
            "status",
            "completed_at",
            "tokens_reversed",
            "tokens_unrecovered",
        ]


class StaffInvoiceSerializer(InvoiceSerializer):
    pdf_route = "billing:staff-invoice-pdf"
    user_id = serializers.UUIDField()
    user_email = serializers.EmailField(source="user.email")
    token_purchases = StaffPurchaseSerializer(many=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [
            *InvoiceSerializer.Meta.fields,
            "user_id",
            "user_email",
            "provider",
            "refunded_at",
            "stripe_session_id",
            "token_purchases",
        ]


class StaffRefundSerializer(StaffInvoiceSerializer):
    """The refunded invoice, and whether the payment provider returned the money in this
    request."""

    # Reads the RefundResult from the context (`refund`).

    provider_refunded = serializers.SerializerMethodField(
        help_text="Whether Stripe returned the money to the customer in this request."
    )
    provider_refund_skipped = serializers.SerializerMethodField(
        help_text=(
            "Why no money went back through the provider in this request, null when Stripe "
            "refunded it: `already_refunded` (Stripe had refunded the payment before), "
            "`disputed` (Stripe refuses: the customer's bank holds the money), `not_stripe` "
            "(a payment made otherwise; return its money outside this service)."
        )
    )

    class Meta(StaffInvoiceSerializer.Meta):
        fields = [
            *StaffInvoiceSerializer.Meta.fields,
            "provider_refunded",
            "provider_refund_skipped",
        ]

    @extend_schema_field(serializers.BooleanField())
    def get_provider_refunded(self, invoice: Invoice) -> bool:
        return self.context["refund"].provider_refunded

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["already_refunded", "disputed", "not_stripe"], allow_null=True
        )
    )
    def get_provider_refund_skipped(self, invoice: Invoice) -> str | None:
        return self.context["refund"].provider_refund_skipped


class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = ["id", "plan_id", "plan_name", "status", "starts_at", "expires_at"]


class TokenBundlePurchaseSerializer(serializers.ModelSerializer):
    unit_price = MoneyField(currency_path="invoice.currency")

    class Meta:
        model = TokenBundlePurchase
        fields = ["id", "bundle_id", "name", "tokens", "unit_price", "status", "completed_at"]


class AddOnSubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AddOnSubscription
        fields = [
            "id",
            "add_on_id",
            "name",
            "subscription_id",
            "status",
            "starts_at",
            "expires_at",
        ]


class CurrentSubscriptionSerializer(SubscriptionSerializer):
    add_ons = AddOnSubscriptionSerializer(many=True, source="add_ons_shown")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "add_ons"]


class NextStepSerializer(serializers.Serializer):
    action = serializers.CharField()
    method = serializers.CharField()
    url = serializers.CharField()


class CheckoutResponseSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer(allow_null=True)
    invoice = InvoiceSerializer()
    token_bundles = TokenBundlePurchaseSerializer(many=True, source="purchases")
    add_ons = AddOnSubscriptionSerializer(many=True)
    message = serializers.CharField()
    next_step = NextStepSerializer()


class PayResponseSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=[Invoice.Provider.STRIPE, Invoice.Provider.TEST])
    checkout_url = serializers.URLField()
    session_id = serializers.CharField(
        required=False, help_text="Stripe's Checkout Session; absent for the test provider."
    )

    def to_representation(self, instance) -> dict:
        body = super().to_representation(instance)
        if body.get("session_id") is None:
            body.pop("session_id", None)
        return body


class StripeWebhookResponseSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=PaymentEvent.Outcome.choices)


class PaymentWebhookResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["success", "already_processed"])
    invoice_id = serializers.UUIDField()
    subscription_activated = serializers.BooleanField()
    tokens_credited = serializers.IntegerField()
    addons_activated = serializers.IntegerField()
