"""Groups are roles (accounts.selectors.staff_may): only a superuser shapes them."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from common.admin import ModelAdmin, RefusesStaleSaves, ShownStateForm

# Django's group admin, as every list of the admin: its delete action refuses a selection of
# ids that are no group's (a non-integer one was a 500), and a filter the database cannot
# run is "?e=1".
admin.site.unregister(Group)


class GroupForm(ShownStateForm):
    shown_fields = ("name", "permissions")


@admin.register(Group)
class GroupAdmin(RefusesStaleSaves, ModelAdmin, DjangoGroupAdmin):
    """A group is a role: its members may do what it may, in the admin and the staff API
    (accounts.selectors.staff_may). Only a superuser gives powers (UserAdmin.POWERS), so only
    a superuser adds, changes or deletes a group: a staff member with `auth.change_group`
    gave their own group the invoices' or tokens' change permission, and one who emptied or
    deleted it had no permission left, which the staff API reads as the contract's plain
    staff, who may do everything. Staff with the group permissions still see the groups.
    A page showing the group otherwise than it is now saves nothing (a permission taken
    away meanwhile was given back)."""

    form = GroupForm

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser
