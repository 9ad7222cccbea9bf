from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

from billing import services
from billing.models import (
    AddOnSubscription,
    Invoice,
    InvoiceLineItem,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.services.reprocess import payment_event_reprocess
from common.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write: staff may look, not change them here."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class LineItemInline(ReadOnlyInline):
    model = InvoiceLineItem
    fields = ["position", "item_type", "description", "quantity", "unit_price", "total_price"]


class PurchaseInline(ReadOnlyInline):
    model = TokenBundlePurchase
    fields = [
        "name",
        "tokens",
        "unit_price",
        "status",
        "completed_at",
        "tokens_reversed",
        "tokens_unrecovered",
    ]


class MarkPaidForm(forms.Form):
    payment_reference = forms.CharField(
        max_length=255, help_text="The bank transfer, receipt or payment id that paid it."
    )


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "user",
        "status",
        "total",
        "provider",
        "payment_reference",
        "stripe_session_id",
        "created_at",
        "paid_at",
        "refunded_at",
    ]
    list_filter = ["status", "provider", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["number", "user__email", "payment_reference"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "currency"]
    inlines = [LineItemInline, PurchaseInline]
    actions = ["mark_paid", "cancel", "refund"]

    @admin.action(description="Mark paid (asks for the payment reference)")
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Invoice]):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one invoice to mark paid.", messages.ERROR)
            return None
        invoice = queryset.get()
        form = MarkPaidForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                services.invoice_capture(
                    invoice_id=invoice.pk,
                    provider=Invoice.Provider.MANUAL,
                    payment_reference=form.cleaned_data["payment_reference"],
                )
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{invoice} is paid.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Mark {invoice} paid",
            "invoice": invoice,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/invoice/mark_paid.html", context)

    @admin.action(description="Cancel the selected pending invoices")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset:
            try:
                services.invoice_cancel(invoice_id=invoice.pk)
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{invoice} is cancelled.", messages.SUCCESS)

    @admin.action(description="Refund the selected paid invoices (Stripe too)")
    def refund(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset:
            try:
                result = services.invoice_refund_with_provider(invoice_id=invoice.pk)
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.message}", messages.ERROR)
                continue
            unrecovered = (
                f"; {result.tokens_unrecovered} tokens were already spent"
                if result.tokens_unrecovered
                else ""
            )
            self.message_user(
                request,
                f"{invoice} is refunded: {result.tokens_reversed} tokens taken back{unrecovered}.",
                messages.SUCCESS,
            )


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

    @admin.action(description="Re-process the selected failed, held or review events")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[PaymentEvent]) -> None:
        for event in queryset:
            try:
                outcome = payment_event_reprocess(event_id=event.pk)
            except DomainError as error:
                self.message_user(request, f"{event}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{event.event_id or event.pk}: {outcome}.")
