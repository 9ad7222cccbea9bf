from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from catalog.admin.forms import CatalogModelAdmin, ConstraintMessagesForm
from catalog.models import Currency
from common.admin import RefusesStaleSaves, ShownStateForm


class CurrencyForm(ConstraintMessagesForm, ShownStateForm):
    shown_fields = ("code", "symbol", "decimal_places", "is_default")


@admin.register(Currency)
class CurrencyAdmin(RefusesStaleSaves, CatalogModelAdmin):
    """A currency has no version: its page carries a digest of what it showed, so a page
    opened before a colleague changed the symbol does not put the old one back."""

    form = CurrencyForm
    list_display = ["code", "symbol", "decimal_places", "is_default"]
    search_fields = ["code"]
    list_filter = ["is_default"]
    ordering = ["code"]

    def get_readonly_fields(self, request: HttpRequest, obj: Currency | None = None) -> list:
        """Places and code of an existing currency would change the meaning of every price."""
        return ["code", "decimal_places", "is_default"] if obj else ["is_default"]

    def has_delete_permission(self, request: HttpRequest, obj: Currency | None = None) -> bool:
        """Never the default currency (everything is priced in it)."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or not obj.is_default)
