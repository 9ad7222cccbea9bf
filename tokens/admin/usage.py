"""Usage and holds in the admin: read-only lists, and a usage's Refund, which goes through
the service the API's refund uses."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from common.admin import ModelAdmin, ReadOnly
from common.errors import DomainError
from tokens import services
from tokens.admin.search import EmailSearch
from tokens.models import Hold, UsageRecord


class ReadOnlyAdmin(ReadOnly, EmailSearch, ModelAdmin):
    list_select_related = ["account__user"]
    search_fields = ["account__user__email", "feature", "reference"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="User", ordering="account__user__email")
    def user_email(self, row) -> str:
        return row.account.user.email


@admin.register(UsageRecord)
class UsageAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user_email",
        "feature",
        "amount",
        "charged",
        "source",
        "refunded_at",
    ]
    # Newest first along the created_at index (migration 0022), and dates by the filter's
    # ranges. No date_hierarchy: it lists the years, months or days that have usage with a
    # DISTINCT over every record of the range, a whole-table sort on each load (990,000
    # records: 0.7 to 1.2 s), as the ledger's list had (tokens/admin/entries.py).
    list_filter = [
        "source",
        ("created_at", admin.DateFieldListFilter),
        ("refunded_at", admin.EmptyFieldListFilter),
    ]
    ordering = ["-created_at"]
    change_form_template = "admin/tokens/usagerecord/change_form.html"

    def may_refund(self, request: HttpRequest) -> bool:
        """Refund, as Adjust, Grant and Void and the API's usage refund by staff: staff who
        may change token accounts."""
        return self.has_view_permission(request) and request.user.has_perm(
            "tokens.change_tokenaccount"
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        context = {**(extra_context or {}), "may_refund": self.may_refund(request)}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self):
        refund = self.admin_site.admin_view(self.refund_view)
        return [
            path("<anyuuid:usage_id>/refund/", refund, name="tokens_usagerecord_refund"),
            *super().get_urls(),
        ]

    def refund_view(self, request: HttpRequest, usage_id: uuid.UUID) -> HttpResponse:
        """Asks first; the POST gives the usage back through usage_record_refund (its tokens
        to the lots they came from, once), refusals shown on the page."""
        if not self.may_refund(request):
            raise PermissionDenied
        usage = get_object_or_404(UsageRecord.objects.select_related("account__user"), pk=usage_id)
        # Bound on a POST, which carries no field: an empty one is valid.
        form = forms.Form(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                services.usage_record_refund(
                    user_id=usage.account.user_id, usage_id=usage.pk, actor_id=request.user.pk
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                given = (
                    f"{usage.charged} tokens given back to the lots they came from; any that"
                    " landed in a lot expired or voided since left it again at once"
                    if usage.entry_id
                    else "a plan covered it: no tokens moved"
                )
                self.message_user(request, f"Refunded the usage: {given}.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:tokens_usagerecord_change", args=[usage.pk])
                )
        if usage.entry_id:
            intro = (
                f"{usage.charged} tokens were charged for this usage of {usage.amount}; "
                "refunding gives them back to the lots they came from (what lands in a lot "
                "that has expired or was voided since leaves again at once), once."
            )
        else:
            intro = "A plan covered this usage: refunding marks it refunded; no tokens move."
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund a usage of {usage.account.user}",
            "action": "Refund usage",
            "intro": intro,
            "account": usage.account,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/tokens/action_form.html", context)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user_email",
        "feature",
        "amount",
        "captured",
        "status",
        "source",
        "expires_at",
    ]
    list_filter = ["status", "source"]
    ordering = ["-created_at"]
