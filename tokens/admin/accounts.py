from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from common.admin import ModelAdmin
from common.errors import Invalid
from common.forms import TrimmedCharField
from tokens import services
from tokens.admin.search import EmailSearch
from tokens.models import LotCategory, TokenAccount, TokenLot
from tokens.services.lots import GRANTABLE, MAX_GRANT

# A page restored from the browser's history keeps its first submission's key: sent again
# with other values, the ledger refuses the key (one submission makes one entry).
SENT_ALREADY = (
    "This form was sent already, with other values: nothing more was recorded. "
    "Open the form again for another one."
)


# Lots the account's page shows; the Lots link lists all of them, a page at a time.
LOTS_SHOWN = 20


class NewestLots(BaseInlineFormSet):
    """The newest LOTS_SHOWN lots only. Each lot is a row of the page, and a customer topping
    up daily has thousands: 5,000 lots made the page 8 MB and 15 s to draw, on the way to
    gunicorn's 30 s, for staff who came to adjust the balance. Read once (the forms index it)."""

    def get_queryset(self):
        if not hasattr(self, "_newest"):
            self._newest = super().get_queryset()[:LOTS_SHOWN]
        return self._newest


class LotInline(admin.TabularInline):
    """The account's newest lots, read-only (grants and voids go through services)."""

    model = TokenLot
    formset = NewestLots
    fk_name = "account"
    verbose_name_plural = f"Newest {LOTS_SHOWN} lots (Lots, above, lists all of them)"
    fields = ["category", "amount", "remaining", "expires_at", "priority", "source_type"]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# Reasons are trimmed as the staff API trims them (TrimmedCharField): one of invisible
# characters alone recorded a correction whose reason reads as nothing.
class GrantTokensForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=MAX_GRANT)
    category = forms.ChoiceField(
        choices=[(c.value, c.label) for c in GRANTABLE], initial=LotCategory.PROMOTIONAL
    )
    expires_at = forms.DateTimeField(
        required=False, help_text="UTC, e.g. 2027-01-31 23:59; empty: never expires."
    )
    priority = forms.IntegerField(
        min_value=0, max_value=100, initial=50, help_text="0..100; lower burns first."
    )
    reason = TrimmedCharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    submission = forms.UUIDField(widget=forms.HiddenInput)


class AdjustTokensForm(forms.Form):
    amount = forms.IntegerField(
        help_text="Positive adds tokens, negative takes them away; not 0.",
        min_value=-1_000_000_000,
        max_value=1_000_000_000,
    )
    reason = TrimmedCharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    submission = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment cannot be 0.")
        return amount


@admin.register(TokenAccount)
class TokenAccountAdmin(EmailSearch, ModelAdmin):
    user_path = "user"
    list_display = ["user", "balance", "total_purchased", "total_spent", "updated_at"]
    search_fields = ["user__email"]
    # The page's users are read by key after the page (get_queryset), not joined: joined, the
    # newest-first sort came after joining every account to its user (500,000 accounts:
    # 1.5-2.2 s a page; alone, the accounts sort in about 0.2 s). An index on updated_at would
    # spare the sort but be rewritten by every ledger write, on the hottest row.
    list_select_related = []
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
    inlines = [LotInline]
    change_form_template = "admin/tokens/tokenaccount/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TokenAccount]:
        return super().get_queryset(request).prefetch_related("user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TokenAccount | None = None) -> bool:
        """The page is read-only: Save wrote the row back as read, undoing a debit made
        meanwhile. Balances change through Adjust and Grant (`may_correct`)."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TokenAccount | None = None) -> bool:
        return False

    def may_correct(self, request: HttpRequest) -> bool:
        """Adjust and Grant (and a lot's Void): staff who may change token accounts."""
        return request.user.has_perm("tokens.change_tokenaccount")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        """Adjust and Grant are offered to staff who may use them; a viewer's click was a 403."""
        context = {**(extra_context or {}), "may_correct": self.may_correct(request)}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_view)
        grant = self.admin_site.admin_view(self.grant_view)
        return [
            path("<anyuuid:account_id>/adjust/", adjust, name="tokens_tokenaccount_adjust"),
            path("<anyuuid:account_id>/grant/", grant, name="tokens_tokenaccount_grant"),
            *super().get_urls(),
        ]

    def grant_view(self, request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
        """Free tokens through lot_grant; a double submit makes one lot."""
        if not self.may_correct(request):
            raise PermissionDenied
        account = get_object_or_404(TokenAccount.objects.select_related("user"), pk=account_id)
        form = GrantTokensForm(request.POST or None, initial={"submission": uuid.uuid4()})
        if request.method == "POST" and form.is_valid():
            fields = dict(form.cleaned_data)
            submission = fields.pop("submission")
            try:
                lot = services.lot_grant(
                    user_id=account.user_id,
                    actor_id=request.user.pk,
                    idempotency_key=f"admin-grant:{submission}",
                    **fields,
                )
            except Invalid as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            except services.LedgerKeyReused:
                form.add_error(None, SENT_ALREADY)
            else:
                self.message_user(
                    request, f"Granted {lot.amount} {lot.category} tokens.", messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse("admin:tokens_tokenaccount_change", args=[account.pk])
                )
        return self._action_page(
            request,
            account,
            form,
            action="Grant tokens",
            intro="A grant is a lot of free tokens with its own expiry and priority, recorded "
            "in the ledger with your name and the reason.",
        )

    def adjust_view(self, request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
        """Staff correction through tokens_adjust; a double submit makes one entry."""
        if not self.may_correct(request):
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
            except services.LedgerKeyReused:
                form.add_error(None, SENT_ALREADY)
            else:
                self.message_user(
                    request,
                    f"Adjusted by {entry.amount:+d}; the balance is now {entry.balance_after}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:tokens_tokenaccount_change", args=[account.pk])
                )
        return self._action_page(
            request,
            account,
            form,
            action="Adjust tokens",
            intro=f"Balance now: {account.balance} tokens. A positive adjustment is a "
            "promotional lot that never expires; a negative one burns lots like usage. It is "
            "recorded with your name and the reason, and never drives the balance below zero.",
        )

    def _action_page(
        self,
        request: HttpRequest,
        account: TokenAccount,
        form: forms.Form,
        *,
        action: str,
        intro: str,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action}: {account.user}",
            "action": action,
            "intro": intro,
            "account": account,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/tokens/action_form.html", context)
