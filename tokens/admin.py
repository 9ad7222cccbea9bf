from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from tokens import services
from tokens.models import TokenAccount, TokenTransaction


class AdjustTokensForm(forms.Form):
    amount = forms.IntegerField(
        help_text="Positive adds tokens, negative takes them away; not 0.",
        min_value=-1_000_000_000,
        max_value=1_000_000_000,
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    submission = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment cannot be 0.")
        return amount


@admin.register(TokenAccount)
class TokenAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "balance", "total_purchased", "total_spent", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    ordering = ["-updated_at"]
    readonly_fields = [
        "user",
        "balance",
        "total_purchased",
        "total_spent",
        "entry_count",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields
    change_form_template = "admin/tokens/tokenaccount/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TokenAccount | None = None) -> bool:
        return False

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_view)
        return [
            path("<uuid:account_id>/adjust/", adjust, name="tokens_tokenaccount_adjust"),
            *super().get_urls(),
        ]

    def adjust_view(self, request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
        """Staff correction through tokens_adjust; a double submit makes one entry."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        account = get_object_or_404(TokenAccount.objects.select_related("user"), pk=account_id)
        form = AdjustTokensForm(request.POST or None, initial={"submission": uuid.uuid4()})
        if request.method == "POST" and form.is_valid():
            try:
                entry = services.tokens_adjust(
                    user_id=account.user_id,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor_id=request.user.pk,
                    idempotency_key=f"admin-adjust:{form.cleaned_data['submission']}",
                )
            except services.InsufficientTokens as error:
                form.add_error("amount", error.message)
            else:
                self.message_user(
                    request,
                    f"Adjusted by {entry.amount:+d}; the balance is now {entry.balance_after}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:tokens_tokenaccount_change", args=[account.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust tokens of {account.user}",
            "account": account,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/tokens/tokenaccount/adjust.html", context)


@admin.register(TokenTransaction)
class TokenTransactionAdmin(admin.ModelAdmin):
    """The ledger, read-only: entries are corrected by new entries, never edited."""

    list_display = [
        "created_at",
        "user_email",
        "transaction_type",
        "amount",
        "balance_after",
        "reference_type",
        "reference_id",
        "description",
    ]
    list_filter = ["transaction_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["account__user__email", "reference_id"]
    date_hierarchy = "created_at"
    list_select_related = ["account__user"]
    ordering = ["-created_at", "-number"]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: TokenTransaction | None = None):
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="User", ordering="account__user__email")
    def user_email(self, entry: TokenTransaction) -> str:
        return entry.account.user.email

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
