"""The user's invoices: the list, one invoice with Pay and Cancel, and its PDF receipt."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from billing import services as billing
from billing.receipts import receipt_answer
from billing.selectors import invoices_of_user
from common.errors import DomainError, NotFound
from pages import selectors
from pages.forms import InvoiceFilterForm
from pages.services import invoice_pay
from pages.views.helpers import form_action, paginated, receipt_throttled


@login_required
@require_safe
def invoices(request: HttpRequest) -> HttpResponse:
    """The user's invoices, newest first, 50 a page, filtered by status."""
    form = InvoiceFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "pages/invoices.html", {"form": form}, status=400)
    found = invoices_of_user(user_id=request.user.pk, status=form.cleaned_data["status"] or None)
    context = {"form": form, **paginated(request, found, form.cleaned_data["page"])}
    return render(request, "pages/invoices.html", context)


def _invoice_page(request: HttpRequest, invoice_id: UUID) -> selectors.InvoicePage:
    try:
        return selectors.invoice_page(invoice_id=invoice_id, user_id=request.user.pk)
    except NotFound as error:
        raise Http404("No such invoice.") from error


def _render_invoice(
    request: HttpRequest, invoice_id: UUID, *, refusal: DomainError | None = None
) -> HttpResponse:
    context = {
        "view": _invoice_page(request, invoice_id),
        "provider": billing.payment_provider_default(),
        "refusal": refusal,
    }
    status = refusal.http_status if refusal else 200
    return render(request, "pages/invoice.html", context, status=status)


@login_required
@require_safe
def invoice_detail(request: HttpRequest, invoice_id: UUID) -> HttpResponse:
    return _render_invoice(request, invoice_id)


@login_required
@form_action("pages:invoice")
def invoice_pay_page(request: HttpRequest, invoice_id: UUID) -> HttpResponse:
    """Goes to Stripe Checkout or the test payment page; a refusal stays on the invoice."""
    try:
        return redirect(invoice_pay(invoice_id=invoice_id, user_id=request.user.pk))
    except NotFound as error:
        raise Http404("No such invoice.") from error
    except DomainError as error:
        return _render_invoice(request, invoice_id, refusal=error)


@login_required
@form_action("pages:invoice")
def invoice_cancel_page(request: HttpRequest, invoice_id: UUID) -> HttpResponse:
    try:
        invoice = billing.invoice_cancel(invoice_id=invoice_id, user_id=request.user.pk)
    except NotFound as error:
        raise Http404("No such invoice.") from error
    except DomainError as error:
        return _render_invoice(request, invoice_id, refusal=error)
    messages.success(request, f"Invoice {invoice.number} is cancelled. Nothing was charged.")
    return redirect("pages:invoice", invoice_id=invoice_id)


@login_required
@require_safe
@receipt_throttled
def invoice_receipt_pdf(request: HttpRequest, invoice_id: UUID) -> HttpResponse:
    """The PDF receipt of a paid or refunded invoice; 404 for anything else."""
    head = request.method == "HEAD"
    try:
        return receipt_answer(invoice_id=invoice_id, user_id=request.user.pk, head=head)
    except DomainError as error:
        raise Http404("This invoice has no receipt.") from error
