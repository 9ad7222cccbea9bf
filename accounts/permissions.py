"""Who among staff may move money or tokens through the staff API: the roles the admin
already holds them to (`accounts.selectors.staff_may`, docs/api.md, Staff roles)."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.selectors import staff_may
from common.api.schema import error_response
from common.errors import DomainError


class StaffRoleRefused(DomainError):
    """A staff member whose role does not include this change: the error names the
    permission, so they know what to ask a superuser for."""

    code = "permission_denied"
    http_status = 403


def refusal(permission: str) -> dict:
    """The 403 of an operation that needs `permission`, for the schema."""
    return error_response(
        "`permission_denied`: not staff, or a staff member whose role (their groups and "
        f"permissions) does not include `{permission}`; nothing changed."
    )


class StaffMay(permissions.BasePermission):
    """An active staff member whom `permission` allows: the same check as the admin's
    buttons and actions for the same change, so a view-only role is view-only everywhere.
    Reads (GET, HEAD, OPTIONS) need `read_permission`, the admin's view permission for what
    they show (its change permission grants it too): a role given invoices only does not
    read the webhook endpoints' URLs, with their `?key=` tokens, which its admin hides."""

    permission: str
    read_permission: str | None = None

    def required(self, request: Request, view: APIView) -> str | None:
        """The permission this request needs beyond `is_staff`, or None."""
        if request.method in permissions.SAFE_METHODS:
            return self.read_permission
        return self.permission

    def has_permission(self, request: Request, view: APIView) -> bool:
        """False for a caller who is not staff (IsAdminUser's 403); raises StaffRoleRefused
        for a staff member whose role leaves this out."""
        user = request.user
        if not (user and user.is_staff):
            return False
        permission = self.required(request, view)
        if permission is not None and not staff_may(user_id=user.pk, permission=permission):
            raise StaffRoleRefused(
                f"Your staff role does not include {permission}: nothing was changed."
            )
        return True


class StaffMayChangeInvoices(StaffMay):
    """Mark paid and refund (the invoice admin's Mark paid, Cancel and Refund)."""

    permission = "billing.change_invoice"
    refused = refusal(permission)


class StaffMayViewInvoices(StaffMay):
    """The staff invoice list and receipts: the customers' emails and what they paid."""

    permission = read_permission = "billing.view_invoice"
    refused = refusal(permission)


class StaffMayChangeTokenAccounts(StaffMay):
    """Adjust, grant, void and refund usage (the token account admin's Adjust and Grant, the
    lot admin's Void)."""

    permission = "tokens.change_tokenaccount"
    read_permission = "tokens.view_tokenaccount"
    refused = refusal(permission)


class StaffMayAddApiKeys(StaffMay):
    """A new key (the admin's Add API key): a key records usage and refunds it for any user,
    so a role that may not move tokens must not mint one. Revoking stays open to all staff
    (docs/decisions.md, Service API keys)."""

    permission = "accounts.add_apikey"
    read_permission = "accounts.view_apikey"
    refused = refusal(permission)


class StaffMayChangeModel(StaffMay):
    """A viewset's writes need the admin's permission for the same change to `view.model`
    (add, change or delete, as the catalog's admin asks); its reads its view permission."""

    VERBS = {
        "create": "add",
        "update": "change",
        "partial_update": "change",
        "toggle_active": "change",
        "destroy": "delete",
    }

    def required(self, request: Request, view: APIView) -> str | None:
        """A write this map does not name (an action added later) needs the change
        permission: a role is never let through by an omission."""
        verb = self.VERBS.get(getattr(view, "action", None) or "")
        if verb is None:
            verb = "view" if request.method in permissions.SAFE_METHODS else "change"
        options = view.model._meta
        return f"{options.app_label}.{verb}_{options.model_name}"


class StaffMayPerMethod(StaffMay):
    """An APIView's writes need the admin's permission for the same change, named per HTTP
    method by the view's `staff_permissions` ({"POST": "app_label.codename"}), and its reads
    what it names for GET (HEAD and OPTIONS as GET). A write it does not name (a method added
    later) needs a permission nobody is given, so a role is never let through by an omission
    (superusers and plain staff, held to no role, still are)."""

    UNNAMED_WRITE = "accounts.unnamed_staff_write"

    def required(self, request: Request, view: APIView) -> str | None:
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        named = getattr(view, "staff_permissions", {}).get(method)
        if named is None and request.method not in permissions.SAFE_METHODS:
            return self.UNNAMED_WRITE
        return named
