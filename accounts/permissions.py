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
    buttons and actions for the same change, so a view-only role is view-only everywhere."""

    permission: str
    message: str
    # Reads (GET, HEAD, OPTIONS) of the same view stay open to every staff member.
    writes_only = False

    def has_permission(self, request: Request, view: APIView) -> bool:
        """False for a caller who is not staff (IsAdminUser's 403); raises StaffRoleRefused
        for a staff member whose role leaves this out."""
        user = request.user
        if not (user and user.is_staff):
            return False
        if self.writes_only and request.method in permissions.SAFE_METHODS:
            return True
        if not staff_may(user_id=user.pk, permission=self.permission):
            raise StaffRoleRefused(self.message)
        return True


class StaffMayChangeInvoices(StaffMay):
    """Mark paid and refund (the invoice admin's Mark paid, Cancel and Refund)."""

    permission = "billing.change_invoice"
    refused = refusal(permission)
    message = (
        "Your staff role does not include changing invoices (billing.change_invoice): "
        "nothing was changed."
    )


class StaffMayChangeTokenAccounts(StaffMay):
    """Adjust, grant, void and refund usage (the token account admin's Adjust and Grant, the
    lot admin's Void)."""

    permission = "tokens.change_tokenaccount"
    refused = refusal(permission)
    message = (
        "Your staff role does not include changing token balances "
        "(tokens.change_tokenaccount): nothing was changed."
    )


class StaffMayAddApiKeys(StaffMay):
    """A new key (the admin's Add API key): a key records usage and refunds it for any user,
    so a role that may not move tokens must not mint one. Revoking stays open to all staff
    (docs/decisions.md, Service API keys)."""

    permission = "accounts.add_apikey"
    refused = refusal(permission)
    writes_only = True
    message = (
        "Your staff role does not include creating API keys (accounts.add_apikey): "
        "nothing was created."
    )
