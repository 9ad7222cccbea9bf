from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from billing.admin.base import ReadOnlyAdmin
from billing.models import (
    AddOnSubscription,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.services.reprocess import payment_event_reprocess
from common.errors import DomainError


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["user", "plan_name", "status", "starts_at", "expires_at", "invoice"]
    list_filter = ["status", "billing_period"]
    search_fields = ["user__email", "plan_name", "invoice__number"]
    list_select_related = ["user", "invoice"]


@admin.register(AddOnSubscription)
class AddOnSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["user", "name", "status", "starts_at", "expires_at", "invoice"]
    list_filter = ["status", "billing_period"]
    search_fields = ["user__email", "name", "invoice__number"]
    list_select_related = ["user", "invoice"]


@admin.register(TokenBundlePurchase)
class TokenBundlePurchaseAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "name",
        "tokens",
        "unit_price",
        "status",
        "completed_at",
        "tokens_reversed",
        "tokens_unrecovered",
        "invoice",
    ]
    list_filter = ["status"]
    search_fields = ["user__email", "name", "invoice__number"]
    list_select_related = ["user", "invoice"]


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdmin):
    exclude = ["payload"]
    readonly_fields = ["pretty_payload"]
    actions = ["reprocess"]
    list_display = [
        "received_at",
        "provider",
        "event_type",
        "event_id",
        "outcome",
        "signature_valid",
        "invoice",
        "deliveries",
    ]
    list_filter = ["outcome", "provider", "signature_valid"]
    search_fields = ["event_id", "payment_reference", "invoice__number"]
    list_select_related = ["invoice"]

    @admin.display(description="Payload")
    def pretty_payload(self, event: PaymentEvent) -> str:
        try:
            text = json.dumps(json.loads(event.payload), indent=2, sort_keys=True)
        except ValueError:
            text = event.payload
        return format_html("<pre>{}</pre>", text)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        """Re-processing captures and refunds invoices: staff who may change invoices."""
        return request.user.has_perm("billing.change_invoice")

    @admin.action(
        description="Re-process the selected failed, held or review events",
        permissions=["reprocess"],
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[PaymentEvent]) -> None:
        for event in queryset:
            try:
                outcome = payment_event_reprocess(event_id=event.pk)
            except DomainError as error:
                self.message_user(request, f"{event}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{event.event_id or event.pk}: {outcome}.")
