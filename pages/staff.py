"""Staff pages outside any one app's admin: the billing overview."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse

from billing.models import Invoice
from pages.overview import billing_overview

# The page is for staff who may view invoices; its other lists show what their own admin
# pages show, each to staff who may view those: a "Support" role given invoices only saw the
# webhook endpoints' URLs (whose `?key=` tokens the logs hide), the payment events and the
# emails of the accounts the ledger audit failed.
SECTION_PERMISSIONS = {
    "endpoints": "events.view_webhookendpoint",
    "payment_events": "billing.view_paymentevent",
    "ledger": "tokens.view_tokenaccount",
}


@admin.site.admin_view
def billing_overview_page(request: HttpRequest) -> TemplateResponse:
    """Revenue, refunds and tokens per day, and what needs a person (for staff who may see
    invoices)."""
    if not request.user.has_perm("billing.view_invoice"):
        raise PermissionDenied
    overview = billing_overview()
    shown = {section: request.user.has_perm(perm) for section, perm in SECTION_PERMISSIONS.items()}
    chart = {
        "days": [day.isoformat() for day in overview.daily.days],
        "revenue": [str(amount) for amount in overview.daily.revenue],
        "tokens": overview.daily.tokens_sold,
        "currency": overview.currency.code,
    }
    context = {
        **admin.site.each_context(request),
        "title": "Billing overview",
        "overview": overview,
        "chart": chart,
        "daily_rows": list(
            zip(
                overview.daily.days,
                overview.daily.revenue,
                overview.daily.refunds,
                overview.daily.tokens_sold,
                strict=True,
            )
        ),
        "opts": Invoice._meta,
        "shown": shown,
    }
    return TemplateResponse(request, "admin/overview.html", context)
