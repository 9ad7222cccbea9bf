from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from billing.admin.base import ReadOnlyAdmin
from billing.models import (
    AddOnSubscription,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.models.events import HANDLED_NOTE_MAX
from billing.services.reprocess import (
    payment_event_mark_handled,
    payment_event_refund_at_stripe,
    payment_event_reprocess,
)
from common.errors import DomainError
from common.forms import TrimmedCharField


class HandledForm(forms.Form):
    """The note trimmed as the API trims text (TrimmedCharField): one of invisible characters
    alone settled an event saying nothing of what was done."""

    note = TrimmedCharField(
        max_length=HANDLED_NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was done about it (refunded by hand, confirmed with the provider, ...).",
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
    actions = ["reprocess", "mark_handled", "refund_at_stripe"]
    list_display = [
        "received_at",
        "provider",
        "event_type",
        "event_id",
        "outcome",
        "signature_valid",
        "invoice",
        "deliveries",
        "handled_at",
    ]
    list_filter = [
        "outcome",
        ("handled_at", admin.EmptyFieldListFilter),
        "provider",
        "signature_valid",
    ]
    search_fields = ["event_id", "payment_reference", "invoice__number"]
    list_select_related = ["invoice"]

    @admin.display(description="Payload")
    def pretty_payload(self, event: PaymentEvent) -> str:
        """The body laid out, or as received when it is not JSON or is nested too deeply
        for Python's parser (a signed body refused on delivery is kept): that
        RecursionError was a 500 on the event's page."""
        try:
            text = json.dumps(json.loads(event.payload), indent=2, sort_keys=True)
        except (RecursionError, ValueError):
            text = event.payload
        return format_html("<pre>{}</pre>", text)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        """Re-processing captures and refunds invoices, and settling an event by hand stands
        for a decision about a payment: staff who may change invoices."""
        return request.user.has_perm("billing.change_invoice")

    @admin.action(
        description="Re-process the selected failed, held or review events",
        permissions=["reprocess"],
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[PaymentEvent]) -> None:
        for event in queryset:
            try:
                outcome = payment_event_reprocess(event_id=event.pk, actor_id=request.user.pk)
            except DomainError as error:
                self.message_user(request, f"{event}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{event.event_id or event.pk}: {outcome}.")

    @admin.action(
        description="Refund at Stripe the selected review events' payments that paid nothing",
        permissions=["reprocess"],
    )
    def refund_at_stripe(
        self, request: HttpRequest, queryset: QuerySet[PaymentEvent]
    ) -> HttpResponse | None:
        """A second payment through a Stripe tab left open (reconcile_purchases flags it),
        returned to the customer, and its events settled saying so. Asked first, as Django's
        delete is: choosing the action returned the money at once, and cannot be undone."""
        if not request.POST.get("post"):
            context = {
                **self.admin_site.each_context(request),
                "title": "Refund these payments at Stripe?",
                "events": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/billing/paymentevent/refund_at_stripe.html", context
            )
        for event in queryset:
            try:
                note = payment_event_refund_at_stripe(event_id=event.pk, staff_id=request.user.pk)
            except DomainError as error:  # Stripe failing too (PaymentProviderError)
                self.message_user(
                    request, f"{event}: {error.message} Nothing changed.", messages.ERROR
                )
            else:
                self.message_user(request, f"{event.event_id or event.pk}: {note}")
        return None

    @admin.action(
        description="Mark the selected review events handled (asks for a note)",
        permissions=["reprocess"],
    )
    def mark_handled(
        self, request: HttpRequest, queryset: QuerySet[PaymentEvent]
    ) -> HttpResponse | None:
        """Asks what was done, then records it on each selected event: reconciliation no
        longer counts them. An event not needing review, or settled already, is refused."""
        form = HandledForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Mark payment events handled",
                "events": queryset,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/billing/paymentevent/mark_handled.html", context
            )
        for event in queryset:
            try:
                payment_event_mark_handled(
                    event_id=event.pk, staff_id=request.user.pk, note=form.cleaned_data["note"]
                )
            except DomainError as error:
                self.message_user(
                    request, f"{event}: {error.message} Nothing changed.", messages.ERROR
                )
            else:
                self.message_user(
                    request, f"{event.event_id or event.pk} is handled.", messages.SUCCESS
                )
        return None
