"""Usage and holds in the admin: read-only lists (writes go through the API's services)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from common.admin import ModelAdmin
from tokens.admin.search import EmailSearch
from tokens.models import Hold, UsageRecord


class ReadOnlyAdmin(EmailSearch, ModelAdmin):
    list_select_related = ["account__user"]
    search_fields = ["account__user__email", "feature", "reference"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="User", ordering="account__user__email")
    def user_email(self, row) -> str:
        return row.account.user.email

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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
    list_filter = ["source", ("refunded_at", admin.EmptyFieldListFilter)]
    date_hierarchy = "created_at"
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
