"""Lots in the admin: read-only, with a Void form that goes through the service."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from common.admin import ModelAdmin
from common.errors import DomainError
from common.forms import TrimmedCharField
from tokens import services
from tokens.admin.search import EmailSearch
from tokens.models import TokenLot


class VoidLotForm(forms.Form):
    reason = TrimmedCharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(TokenLot)
class TokenLotAdmin(EmailSearch, ModelAdmin):
    list_display = [
        "created_at",
        "user_email",
        "category",
        "amount",
        "remaining",
        "expires_at",
        "priority",
        "source_type",
    ]
    list_filter = ["category", ("expires_at", admin.EmptyFieldListFilter)]
    search_fields = ["account__user__email", "source_id"]
    list_select_related = ["account__user"]
    ordering = ["-created_at"]
    change_form_template = "admin/tokens/tokenlot/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: TokenLot | None = None) -> list:
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="User", ordering="account__user__email")
    def user_email(self, lot: TokenLot) -> str:
        return lot.account.user.email

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        """Read-only: Save wrote the lot back as read, undoing a debit made meanwhile."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def may_void(self, request: HttpRequest) -> bool:
        """Void, as Adjust and Grant: staff who may change token accounts."""
        return self.has_view_permission(request) and request.user.has_perm(
            "tokens.change_tokenaccount"
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        """Void is offered to staff who may use it; a viewer's click was a 403."""
        context = {**(extra_context or {}), "may_void": self.may_void(request)}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self):
        void = self.admin_site.admin_view(self.void_view)
        return [
            path("<anyuuid:lot_id>/void/", void, name="tokens_tokenlot_void"),
            *super().get_urls(),
        ]

    def void_view(self, request: HttpRequest, lot_id: uuid.UUID) -> HttpResponse:
        """Takes what is left of a lot through lot_void; refusals are shown on the form."""
        if not self.may_void(request):
            raise PermissionDenied
        lot = get_object_or_404(TokenLot.objects.select_related("account__user"), pk=lot_id)
        form = VoidLotForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                voided = services.lot_void(
                    lot_id=lot.pk, reason=form.cleaned_data["reason"], actor_id=request.user.pk
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                # What the void took under the account's lock: a debit may have landed since
                # this request read the lot.
                self.message_user(request, f"Voided {voided.amount} tokens.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:tokens_tokenlot_change", args=[lot.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Void a lot of {lot.account.user}",
            "action": "Void lot",
            "intro": f"{lot.remaining} of {lot.amount} {lot.get_category_display()} tokens "
            "are left; voiding takes them away with a ledger entry carrying your reason.",
            "account": lot.account,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/tokens/action_form.html", context)
