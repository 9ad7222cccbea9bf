"""Usage and holds in the admin: read-only lists (writes go through the API's services)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from common.admin import ModelAdmin, ReadOnly
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
