from __future__ import annotations

from django.contrib import admin

from common.admin import ModelAdmin, ReadOnly


class ReadOnlyAdmin(ReadOnly, ModelAdmin):
    """Rows that only services write: staff may look, not change them here."""


class ReadOnlyInline(ReadOnly, admin.TabularInline):
    extra = 0
    can_delete = False
