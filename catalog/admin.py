from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog import selectors, services
from catalog.models import AddOn, CatalogItem, Currency, Plan, TokenBundle
from common.errors import Invalid


class CatalogItemForm(forms.ModelForm):
    """Shows the service's rules (default currency, price places) as form errors."""

    def clean(self) -> dict:
        cleaned = super().clean()
        currency, price = cleaned.get("currency"), cleaned.get("price")
        try:
            if currency is not None:
                services.validate_currency(currency.id)
            if currency is not None and price is not None:
                services.validate_price(price, currency)
        except Invalid as error:
            field = "currency" if error.field == "currency_id" else error.field
            self.add_error(field, error.message)
        return cleaned


class CatalogItemAdmin(admin.ModelAdmin):
    form = CatalogItemForm
    list_display = ["name", "price", "is_active", "sort_order", "updated_at"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    ordering = ["sort_order", "price"]
    readonly_fields = ["version", "created_at", "updated_at"]
    actions = ["activate", "deactivate"]
    list_select_related = ["currency"]
    kind_fields: list[str] = []

    def get_fields(self, request: HttpRequest, obj: CatalogItem | None = None) -> list[str]:
        return [
            "name",
            "description",
            *self.kind_fields,
            "price",
            "currency",
            "is_active",
            "sort_order",
            "version",
            "created_at",
            "updated_at",
        ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("currency", selectors.default_currency())
        return initial

    def save_model(self, request: HttpRequest, obj: CatalogItem, form, change: bool) -> None:
        services.catalog_item_save(item=obj, changed_fields=form.changed_data)

    def delete_model(self, request: HttpRequest, obj: CatalogItem) -> None:
        services.catalog_item_delete(model=type(obj), item_id=obj.pk)

    @admin.action(description="Activate the selected items")
    def activate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        changed = services.catalog_items_set_active(queryset=queryset, active=True)
        self.message_user(request, f"Activated {changed} item(s).", messages.SUCCESS)

    @admin.action(description="Deactivate the selected items (hidden from sale, kept for history)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        changed = services.catalog_items_set_active(queryset=queryset, active=False)
        self.message_user(request, f"Deactivated {changed} item(s).", messages.SUCCESS)


@admin.register(TokenBundle)
class TokenBundleAdmin(CatalogItemAdmin):
    list_display = [
        "name",
        "token_amount",
        "price",
        "price_per_token",
        "is_active",
        "sort_order",
        "updated_at",
    ]
    kind_fields = ["token_amount", "expires_after_days"]

    @admin.display(description="Price per token")
    def price_per_token(self, bundle: TokenBundle) -> str:
        return f"{bundle.price_per_token} {bundle.currency.code}"


@admin.register(AddOn)
class SubscriptionItemAdmin(CatalogItemAdmin):
    list_display = [
        "name",
        "billing_period",
        "price",
        "is_active",
        "sort_order",
        "updated_at",
    ]
    list_filter = ["is_active", "billing_period"]
    kind_fields = ["billing_period"]


@admin.register(Plan)
class PlanAdmin(SubscriptionItemAdmin):
    list_display = [*SubscriptionItemAdmin.list_display[:2], "usage_mode", "included_tokens"]
    list_display += SubscriptionItemAdmin.list_display[2:]
    list_filter = [*SubscriptionItemAdmin.list_filter, "usage_mode"]
    kind_fields = ["billing_period", "usage_mode", "included_tokens"]


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ["code", "symbol", "decimal_places", "is_default"]
    search_fields = ["code"]
    list_filter = ["is_default"]
    ordering = ["code"]

    def get_readonly_fields(self, request: HttpRequest, obj: Currency | None = None) -> list:
        """Places and code of an existing currency would change the meaning of every price."""
        return ["code", "decimal_places", "is_default"] if obj else ["is_default"]

    def has_delete_permission(self, request: HttpRequest, obj: Currency | None = None) -> bool:
        return obj is None or not obj.is_default
